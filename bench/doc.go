// Package bench holds valet's side-by-side benchmarks against other
// libraries. It is a module of its own so that those libraries never become
// dependencies of valet. See README.md for how to run them and the results.
package bench
