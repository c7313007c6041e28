//go:build !linux

package main

import (
	"context"
	"errors"
	"time"
)

// epollAvailable is false: driveClient drives every connection from a
// goroutine of its own.
const epollAvailable = false

func driveEpoll(context.Context, string, []byte, time.Time, int) (int64, error) {
	return 0, errors.New("epoll is Linux's")
}
