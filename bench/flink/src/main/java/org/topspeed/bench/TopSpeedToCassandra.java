package org.topspeed.bench;

import java.time.Duration;
import java.util.Locale;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.delta.DeltaFunction;
import org.apache.flink.streaming.api.windowing.assigners.GlobalWindows;
import org.apache.flink.streaming.api.windowing.evictors.TimeEvictor;
import org.apache.flink.streaming.api.windowing.triggers.DeltaTrigger;
import org.apache.flink.streaming.connectors.cassandra.CassandraSink;
import org.apache.flink.streaming.connectors.cassandra.CassandraSinkBaseConfig;

/**
 * Flink's TopSpeedWindowing pipeline (Flink 1.20 example, unchanged: FileSource
 * of car reports, the example's parser, forMonotonousTimestamps, keyBy carId,
 * GlobalWindows, TimeEvictor 10 s, DeltaTrigger 50 on distance, maxBy(1)),
 * writing its results to Cassandra through the Flink Cassandra connector's
 * CassandraSink with the connector's defaults.
 *
 * <pre>
 *   TopSpeedToCassandra --input FILE --table T [--keyspace example] [--sink-only] [--max-concurrent N] [--label NAME]
 * </pre>
 *
 * --sink-only skips the windowing: FILE then holds result rows (the same
 * "(carId,speed,distance,time)" format) that go straight to the sink, which
 * measures the sink on its own.
 *
 * --max-concurrent N sets CassandraSinkBaseConfig.maxConcurrentRequests (per
 * subtask); the connector's default is Integer.MAX_VALUE, which overruns the
 * driver's request queue (BusyPoolException) when rows arrive fast.
 * --label names the result line (default flink, or flink-sink with --sink-only).
 *
 * Connection from the environment, like topspeed: CASSANDRA_HOSTS
 * (host:port,...), CASSANDRA_USERNAME, and the password from the file named by
 * CASSANDRA_PASSWORD_FILE (or CASSANDRA_PASSWORD); it is read inside the task
 * and never printed. Consistency ONE.
 *
 * Prints one line: rows, the sink's active time (first request sent to last
 * answer), rows/s over it, requests, p50/p99 request latency (the driver's
 * LatencyTracker: executeAsync to answer), whole-job wall time.
 */
public final class TopSpeedToCassandra {

    /** The example's ParseCarData: strips the parentheses, splits on commas. */
    static final class ParseCarData extends RichMapFunction<String, Tuple4<Integer, Integer, Double, Long>> {
        private static final long serialVersionUID = 1L;

        @Override
        public Tuple4<Integer, Integer, Double, Long> map(String record) {
            String rawData = record.substring(1, record.length() - 1);
            String[] data = rawData.split(",");
            return new Tuple4<>(Integer.valueOf(data[0]), Integer.valueOf(data[1]), Double.valueOf(data[2]), Long.valueOf(data[3]));
        }
    }

    public static void main(String[] args) throws Exception {
        String input = null;
        String table = null;
        String keyspace = "example";
        boolean sinkOnly = false;
        int maxConcurrent = 0;
        String label = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--input": input = args[++i]; break;
                case "--table": table = args[++i]; break;
                case "--keyspace": keyspace = args[++i]; break;
                case "--sink-only": sinkOnly = true; break;
                case "--max-concurrent": maxConcurrent = Integer.parseInt(args[++i]); break;
                case "--label": label = args[++i]; break;
                default:
                    System.err.println("usage: TopSpeedToCassandra --input FILE --table T [--keyspace example] [--sink-only] [--max-concurrent N] [--label NAME]");
                    System.exit(2);
            }
        }
        if (input == null || table == null || !table.matches("[A-Za-z][A-Za-z0-9_]*") || !keyspace.matches("[A-Za-z][A-Za-z0-9_]*")) {
            System.err.println("TopSpeedToCassandra: need --input FILE and a valid --table name");
            System.exit(2);
        }

        final int evictionSec = 10;
        final double triggerMeters = 50;

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        FileSource<String> source = FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(input)).build();
        DataStream<Tuple4<Integer, Integer, Double, Long>> carData =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "file-input").map(new ParseCarData()).name("parse-input");

        DataStream<Tuple4<Integer, Integer, Double, Long>> out;
        if (sinkOnly) {
            out = carData;
        } else {
            out = carData
                    .assignTimestampsAndWatermarks(
                            WatermarkStrategy.<Tuple4<Integer, Integer, Double, Long>>forMonotonousTimestamps()
                                    .withTimestampAssigner((car, ts) -> car.f3))
                    .keyBy(value -> value.f0)
                    .window(GlobalWindows.create())
                    .evictor(TimeEvictor.of(Duration.ofSeconds(evictionSec)))
                    .trigger(DeltaTrigger.of(triggerMeters,
                            new DeltaFunction<Tuple4<Integer, Integer, Double, Long>>() {
                                private static final long serialVersionUID = 1L;

                                @Override
                                public double getDelta(Tuple4<Integer, Integer, Double, Long> oldDataPoint,
                                                       Tuple4<Integer, Integer, Double, Long> newDataPoint) {
                                    return newDataPoint.f2 - oldDataPoint.f2;
                                }
                            },
                            carData.getType().createSerializer(env.getConfig().getSerializerConfig())))
                    .maxBy(1);
        }

        // The connector's defaults otherwise: CassandraSinkBaseConfig (max
        // concurrent requests, timeout), NoOpCassandraFailureHandler, no
        // write-ahead log, no checkpointing.
        CassandraSink.CassandraSinkBuilder<Tuple4<Integer, Integer, Double, Long>> sink = CassandraSink.addSink(out)
                .setQuery("INSERT INTO " + keyspace + "." + table + "(carid, speed, distance, time) VALUES (?, ?, ?, ?);")
                .setClusterBuilder(new EnvClusterBuilder());
        if (maxConcurrent > 0) {
            sink.setMaxConcurrentRequests(maxConcurrent);
        }
        sink.build().name("cassandra-sink");

        long t0 = System.nanoTime();
        env.execute(sinkOnly ? "CassandraSinkOnly" : "TopSpeedToCassandra");
        double wall = (System.nanoTime() - t0) / 1e9;

        SinkStats.Snapshot s = SinkStats.snapshot();
        double active = s.activeNanos / 1e9;
        System.out.printf(Locale.ROOT,
                "%s rows=%d seconds=%.2f rows/s=%.0f requests=%d failures=%d p50=%s p99=%s job_seconds=%.2f parallelism=%d peak_rss_mb=%.0f%n",
                label != null ? label : sinkOnly ? "flink-sink" : "flink", s.ok, active, active > 0 ? s.ok / active : 0.0, s.ok + s.failed, s.failed,
                fmtDur(s.p50Nanos), fmtDur(s.p99Nanos), wall, env.getParallelism(), SinkStats.peakRssMb());
        System.out.println("# connector defaults: " + CassandraSinkBaseConfig.newBuilder().build()
                + (maxConcurrent > 0 ? "; this run: maxConcurrentRequests=" + maxConcurrent : ""));
    }

    /** Like Go's time.Duration rounded to 10 µs. */
    static String fmtDur(long nanos) {
        if (nanos >= 1_000_000_000L) {
            return String.format(Locale.ROOT, "%.2fs", nanos / 1e9);
        }
        if (nanos >= 1_000_000L) {
            return String.format(Locale.ROOT, "%.2fms", nanos / 1e6);
        }
        // "us", not "µs": the JVM writes stdout in the locale's charset,
        // and under a non-UTF-8 locale (LANG unset) "µ" became "?", which
        // s4report could not parse.
        return String.format(Locale.ROOT, "%.0fus", Math.floor(nanos / 1e4) * 10);
    }

    private TopSpeedToCassandra() {}
}
