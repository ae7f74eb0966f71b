package org.topspeed.bench;

import java.util.Locale;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The "Flink tuned" local environment of bench/run (S1 and S6): what a
 * Flink engineer would set before comparing, from Flink's own tuning docs.
 * Shared by {@link TopSpeedTuned} and {@link WordCountTuned}; each knob is a
 * flag so that a run can show its effect:
 *
 * <pre>
 *   --parallelism N          the keyed (window / counter) stages and the sink (default 2)
 *   --source-parallelism N   the file source and the operators chained to it (default 1)
 *   --object-reuse true      pipeline.object-reuse (default true)
 *   --buffer-timeout MS      execution.buffer-timeout; -1 = flush only full buffers (default -1)
 *   --managed-memory SIZE    taskmanager.memory.managed.size (default 0m: heap state backend)
 *   --network-memory SIZE    taskmanager.memory.network.min = max (default 64m, the local default)
 *   --chaining true          operator chaining (default true)
 * </pre>
 *
 * The mini-cluster runs in this JVM: its heap is the JVM's -Xmx/-Xms (set
 * by bench/run), as Flink's docs say for local execution, where only
 * managed and network memory are configured through the Configuration.
 */
final class TunedEnv {
    int parallelism = 2;
    int sourceParallelism = 1;
    boolean objectReuse = true;
    long bufferTimeout = -1;
    String managedMemory = "0m";
    String networkMemory = "64m";
    boolean chaining = true;

    /**
     * Consumes args[i] (and its value) if it is one of the flags above and
     * returns the index of the last argument used, or -1 if it is not one.
     */
    int parse(String[] args, int i) {
        if (i + 1 >= args.length) {
            return -1;
        }
        String v = args[i + 1];
        switch (args[i]) {
            case "--parallelism": parallelism = positive(args[i], v); break;
            case "--source-parallelism": sourceParallelism = positive(args[i], v); break;
            case "--object-reuse": objectReuse = Boolean.parseBoolean(v); break;
            case "--buffer-timeout": bufferTimeout = Long.parseLong(v); break;
            case "--managed-memory": managedMemory = MemorySize.parse(v).toString(); break;
            case "--network-memory": networkMemory = MemorySize.parse(v).toString(); break;
            case "--chaining": chaining = Boolean.parseBoolean(v); break;
            default: return -1;
        }
        if (bufferTimeout < -1) {
            throw new IllegalArgumentException("--buffer-timeout " + bufferTimeout + ": must be >= -1");
        }
        return i + 1;
    }

    private static int positive(String flag, String v) {
        int n = Integer.parseInt(v);
        if (n < 1 || n > 1024) {
            throw new IllegalArgumentException(flag + " " + v + ": must be in [1, 1024]");
        }
        return n;
    }

    /** A local environment (mini-cluster in this JVM) with these settings. */
    StreamExecutionEnvironment create() {
        Configuration conf = new Configuration();
        conf.set(PipelineOptions.OBJECT_REUSE, objectReuse);
        conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse(managedMemory));
        conf.set(TaskManagerOptions.NETWORK_MEMORY_MIN, MemorySize.parse(networkMemory));
        conf.set(TaskManagerOptions.NETWORK_MEMORY_MAX, MemorySize.parse(networkMemory));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
        env.setBufferTimeout(bufferTimeout);
        if (objectReuse) {
            env.getConfig().enableObjectReuse();
        }
        if (!chaining) {
            env.disableOperatorChaining();
        }
        return env;
    }

    /** One line for the log: the settings in effect. */
    String describe() {
        return String.format(Locale.ROOT,
                "tuned parallelism=%d source_parallelism=%d object_reuse=%b buffer_timeout_ms=%d managed_memory=%s network_memory=%s chaining=%b max_heap_mib=%d",
                parallelism, sourceParallelism, objectReuse, bufferTimeout, managedMemory, networkMemory, chaining,
                Runtime.getRuntime().maxMemory() >> 20);
    }

    static final String USAGE = "[--parallelism 2] [--source-parallelism 1] [--object-reuse true] [--buffer-timeout -1] "
            + "[--managed-memory 0m] [--network-memory 64m] [--chaining true]";

    /** A tuned job's command line: --input FILE --output DIR and the TunedEnv flags. */
    static final class JobArgs {
        String input;
        String output;
        final TunedEnv tuned = new TunedEnv();
    }

    /**
     * Parses a tuned job's command line; on an unknown flag or a missing
     * --input or --output it prints the usage of job and exits with status 2.
     */
    static JobArgs parseJob(String job, String[] args) {
        JobArgs a = new JobArgs();
        for (int i = 0; i < args.length; i++) {
            int used = a.tuned.parse(args, i);
            if (used >= 0) {
                i = used;
                continue;
            }
            switch (args[i]) {
                case "--input": a.input = i + 1 < args.length ? args[++i] : null; break;
                case "--output": a.output = i + 1 < args.length ? args[++i] : null; break;
                default:
                    System.err.println("usage: " + job + " --input FILE --output DIR " + USAGE);
                    System.exit(2);
            }
        }
        if (a.input == null || a.output == null) {
            System.err.println(job + ": need --input FILE --output DIR");
            System.exit(2);
        }
        return a;
    }
}
