package loadtest

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"
)

// MeColumns are the columns of the GET /v1/me table that Markdown writes.
var MeColumns = []string{
	"target", "mode", "session store", "req/s", "× floor", "CPU µs/req", "× floor by CPU", "p50", "p99",
	"client bytes/req", "credential bytes", "server holds per 100k logins", "errors",
}

// Markdown writes r as Markdown tables with a line on how it was measured.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## GET /v1/me\n\n")
	what := fmt.Sprintf("%d round(s) of %s per target at %d concurrent clients, targets interleaved",
		r.Rounds, r.Duration, r.Concurrency)
	if r.Remote != "" {
		what += ", against " + r.Remote
	} else {
		what += ", client and servers in one process on 127.0.0.1"
	}
	cpuOf := "this process's: the clients' and the in-process servers', not that of Postgres or Redis"
	if r.Remote != "" {
		cpuOf = "the clients' only"
	}
	fmt.Fprintf(&b, "Measured %s on %s: %s. req/s is the median round; latencies are over all rounds; CPU time is %s.\n\n",
		r.Started.Format("2006-01-02"), r.Machine, what, cpuOf)
	row(&b, MeColumns...)
	row(&b, strings.Split(strings.Repeat("---,", len(MeColumns)-1)+"---", ",")...)
	for _, t := range r.Targets {
		ratio := "—"
		if t.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", t.Ratio)
		}
		cred := "—"
		if t.CredentialBytes > 0 {
			cred = fmt.Sprint(t.CredentialBytes)
		}
		holds := "—"
		if t.Per100k >= 0 && t.Footprint != "" {
			holds = fmt.Sprintf("%s (%s)", mib(t.Per100k), t.Footprint)
		}
		cpu, cpuRatio := "—", "—"
		if t.CPUPerRequest > 0 {
			cpu = fmt.Sprintf("%.1f", float64(t.CPUPerRequest)/float64(time.Microsecond))
		}
		if t.CPURatio > 0 {
			cpuRatio = fmt.Sprintf("%.2f", t.CPURatio)
		}
		row(&b, t.Name, dash(t.Mode), dash(t.Store), fmt.Sprintf("%.0f", t.RPS), ratio, cpu, cpuRatio,
			ms(t.P50), ms(t.P99), fmt.Sprintf("%.0f", t.BytesPerRequest), cred, holds, fmt.Sprint(t.Errors))
	}
	if p := r.Propagation; p != nil {
		fmt.Fprintf(&b, "\n## Hybrid revocation propagation\n\n")
		fmt.Fprintf(&b, "A hybrid logout sent to one of %d nodes, timed until each other node refuses the token (polled back to back), over %s.\n\n", p.Nodes, p.Transport)
		row(&b, "samples", "p50", "p99", "max", fmt.Sprintf("still accepted after %s", p.Timeout))
		row(&b, "---", "---", "---", "---", "---")
		row(&b, fmt.Sprint(p.Samples), ms(p.P50), ms(p.P99), ms(p.Max), fmt.Sprint(p.Missed))
	}
	if l := r.Login; l != nil {
		fmt.Fprintf(&b, "\n## Login\n\n")
		fmt.Fprintf(&b, "argon2id m=%d KiB, t=%d, p=%d; %d hashes at once (the server's bound and the raw measure's), %d login clients; median round.\n\n",
			l.Params.Memory, l.Params.Iterations, l.Params.Parallelism, l.Slots, l.Clients)
		cpu := func(d time.Duration) string {
			if d <= 0 {
				return "—"
			}
			return ms(d)
		}
		cpuRatio := "—"
		if l.CPURatio > 0 {
			cpuRatio = fmt.Sprintf("%.2f", l.CPURatio)
		}
		row(&b, "what", "per second", "× raw argon2id", "CPU per op", "× raw by CPU", "errors")
		row(&b, "---", "---", "---", "---", "---", "---")
		row(&b, "raw argon2id (argon2.IDKey)", fmt.Sprintf("%.1f", l.RawRPS), "1.00", cpu(l.RawCPU), "1.00", "—")
		row(&b, "POST /v1/login (session mode)", fmt.Sprintf("%.1f", l.LoginRPS), fmt.Sprintf("%.2f", l.Ratio),
			cpu(l.LoginCPU), cpuRatio, fmt.Sprint(l.Errors))
	}
	if u := r.Burst; u != nil {
		fmt.Fprintf(&b, "\n## %d clients logging in at once\n\n", u.Clients)
		row(&b, "clients", "200", "503 (hashing busy)", "other", "took", "resident memory before", "peak resident memory")
		row(&b, "---", "---", "---", "---", "---", "---", "---")
		row(&b, fmt.Sprint(u.Clients), fmt.Sprint(u.OK), fmt.Sprint(u.Busy), fmt.Sprint(u.Other),
			u.Took.Round(time.Millisecond).String(), mib(u.RSSBefore), mib(u.PeakRSS))
		fmt.Fprintf(&b, "\nResident memory is the whole bench process: the server and the %d clients.\n", u.Clients)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func row(b *strings.Builder, cells ...string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// ms formats d in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

func mib(n int64) string {
	if n <= 0 {
		return "0 MiB"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// SVG writes a bar chart of the /v1/me requests per second, each bar
// labelled with its ratio to the floor and its p99 latency.
func (r *Report) SVG(w io.Writer) error {
	const (
		left, right, top, barH, gap = 150, 250, 40, 22, 10
		width                       = 900
	)
	plot := width - left - right
	height := top + len(r.Targets)*(barH+gap) + 30
	maxRPS := 0.0
	for _, t := range r.Targets {
		maxRPS = max(maxRPS, t.RPS)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">GET /v1/me, requests per second (%d clients, median of %d rounds)</text>`+"\n", left, r.Concurrency, r.Rounds)
	// The floor's line goes first, so that bars and labels are drawn over it.
	for _, t := range r.Targets {
		if t.Name == "floor" && maxRPS > 0 {
			x := float64(left) + float64(plot)*t.RPS/maxRPS
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#bbb" stroke-dasharray="4 3"/>`+"\n", x, top-6, x, height-24)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#777">floor</text>`+"\n", x, height-10)
		}
	}
	for i, t := range r.Targets {
		y := top + i*(barH+gap)
		wBar := 0.0
		if maxRPS > 0 {
			wBar = float64(plot) * t.RPS / maxRPS
		}
		color := "#4878a8"
		switch {
		case t.Name == "floor":
			color = "#9a9a9a"
		case t.Mode == "token":
			color = "#58a066"
		case t.Mode == "hybrid":
			color = "#c08a3e"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-6, html.EscapeString(t.Name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, wBar, barH, color)
		label := fmt.Sprintf("%.0f req/s", t.RPS)
		if t.Ratio > 0 && t.Name != "floor" {
			label += fmt.Sprintf(" · %.2f× floor", t.Ratio)
		}
		label += " · p99 " + ms(t.P99)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" paint-order="stroke" stroke="#fff" stroke-width="3">%s</text>`+"\n", float64(left)+wBar+6, y+barH-6, html.EscapeString(label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
