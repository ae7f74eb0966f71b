// Package bench holds topspeed's benchmarks: Go benchmarks of the TopSpeed
// pipeline (this package), and side-by-side comparisons with real Flink
// (bench/flink, bench/parity). See README.md for the figures and commands.
package bench
