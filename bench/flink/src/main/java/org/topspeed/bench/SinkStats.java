package org.topspeed.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;

import com.datastax.driver.core.BoundStatement;
import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.Host;
import com.datastax.driver.core.LatencyTracker;
import com.datastax.driver.core.Statement;

/**
 * Request timing for the sink, in the job's JVM (the local mini-cluster runs
 * the tasks in-process, so every subtask's Cluster reports here). The driver
 * calls {@link LatencyTracker#update} when a request completes, with its
 * latency measured from executeAsync; only the sink's bound INSERTs count.
 */
final class SinkStats {
    static final LatencyTracker TRACKER = new Tracker();

    private static final Object LOCK = new Object();
    private static long[] lat = new long[1 << 16];
    private static int n;
    private static long failed;
    private static long firstStart = Long.MAX_VALUE;
    private static long lastEnd = Long.MIN_VALUE;

    private static final class Tracker implements LatencyTracker {
        @Override
        public void update(Host host, Statement statement, Exception exception, long newLatencyNanos) {
            if (!(statement instanceof BoundStatement)) {
                return;
            }
            long end = System.nanoTime();
            synchronized (LOCK) {
                if (exception != null) {
                    failed++;
                    return;
                }
                if (n == lat.length) {
                    lat = Arrays.copyOf(lat, n * 2);
                }
                lat[n++] = newLatencyNanos;
                firstStart = Math.min(firstStart, end - newLatencyNanos);
                lastEnd = Math.max(lastEnd, end);
            }
        }

        @Override
        public void onRegister(Cluster cluster) {}

        @Override
        public void onUnregister(Cluster cluster) {}
    }

    static final class Snapshot {
        long ok, failed, activeNanos, p50Nanos, p99Nanos;
    }

    static Snapshot snapshot() {
        Snapshot s = new Snapshot();
        synchronized (LOCK) {
            long[] a = Arrays.copyOf(lat, n);
            Arrays.sort(a);
            s.ok = n;
            s.failed = failed;
            if (n > 0) {
                s.activeNanos = lastEnd - firstStart;
                s.p50Nanos = a[Math.min(n - 1, (int) (0.50 * n))];
                s.p99Nanos = a[Math.min(n - 1, (int) (0.99 * n))];
            }
        }
        return s;
    }

    /** VmHWM of this JVM in MiB, 0 if unknown. */
    static double peakRssMb() {
        try {
            for (String l : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // unknown
        }
        return 0;
    }

    private SinkStats() {}
}
