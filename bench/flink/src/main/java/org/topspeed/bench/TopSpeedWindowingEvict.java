package org.topspeed.bench;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.serialization.SimpleStringEncoder;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.filesystem.rollingpolicies.DefaultRollingPolicy;
import org.apache.flink.streaming.api.functions.windowing.delta.DeltaFunction;
import org.apache.flink.streaming.api.windowing.assigners.GlobalWindows;
import org.apache.flink.streaming.api.windowing.evictors.Evictor;
import org.apache.flink.streaming.api.windowing.evictors.TimeEvictor;
import org.apache.flink.streaming.api.windowing.triggers.DeltaTrigger;
import org.apache.flink.streaming.api.windowing.windows.GlobalWindow;
import org.apache.flink.streaming.runtime.operators.windowing.TimestampedValue;

/**
 * Flink 1.20's TopSpeedWindowing example (file input and output) with the
 * TimeEvictor's size as a flag: the example hard-codes 10 s. Everything else
 * is the example's: FileSource of text lines, its parser, forMonotonousTimestamps,
 * keyBy carId, GlobalWindows, TimeEvictor, DeltaTrigger 50 on distance, maxBy(1),
 * FileSink row format rolled at 1 MiB or 10 s. Used by bench/run, scenario S2.
 *
 * <pre>
 *   TopSpeedWindowingEvict --input FILE --output DIR [--evict-ms 10000] [--state-sample N]
 * </pre>
 *
 * --state-sample N (default 0 = off): at a random 1 in N firings, after the
 * evictor ran, count the window's elements and remember the count per car.
 * At the end one line "state cars=C sampled_elements=E" gives the elements
 * held per car at its last sampled firing, summed: the size of Flink's window
 * state (GlobalWindows + evictor keep every element until a firing evicts
 * it). The evictor is Flink's TimeEvictor, wrapped; counting walks the
 * elements once, on the sampled firings only.
 */
public final class TopSpeedWindowingEvict {

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

    /** Elements per car at its last sampled firing (the mini-cluster runs in this JVM). */
    static final Map<Integer, Integer> SAMPLED = new ConcurrentHashMap<>();

    /** Flink's TimeEvictor, plus a sampled count of what it keeps. */
    static final class SampledEvictor implements Evictor<Object, GlobalWindow> {
        private static final long serialVersionUID = 1L;
        private final TimeEvictor<GlobalWindow> inner;
        private final int sample;

        SampledEvictor(TimeEvictor<GlobalWindow> inner, int sample) {
            this.inner = inner;
            this.sample = sample;
        }

        @Override
        public void evictBefore(Iterable<TimestampedValue<Object>> elements, int size,
                                GlobalWindow window, EvictorContext ctx) {
            inner.evictBefore(elements, size, window, ctx);
            if (ThreadLocalRandom.current().nextInt(sample) != 0) {
                return;
            }
            int n = 0;
            Integer car = null;
            for (TimestampedValue<Object> e : elements) {
                car = ((Tuple4<?, ?, ?, ?>) e.getValue()).f0 instanceof Integer c ? c : null;
                n++;
            }
            if (car != null) {
                SAMPLED.put(car, n);
            }
        }

        @Override
        public void evictAfter(Iterable<TimestampedValue<Object>> elements, int size,
                               GlobalWindow window, EvictorContext ctx) {
            inner.evictAfter(elements, size, window, ctx);
        }
    }

    /** The example's event time: each report's timestamp, monotonous per source subtask. */
    static SingleOutputStreamOperator<Tuple4<Integer, Integer, Double, Long>> withCarTime(DataStream<Tuple4<Integer, Integer, Double, Long>> carData) {
        return carData.assignTimestampsAndWatermarks(
                WatermarkStrategy.<Tuple4<Integer, Integer, Double, Long>>forMonotonousTimestamps()
                        .withTimestampAssigner((car, ts) -> car.f3));
    }

    /**
     * The example's window on timestamped car reports: keyBy carId, GlobalWindows,
     * the evictor, DeltaTrigger of triggerMeters on the distance, maxBy(1). The
     * S1, S2 and S7 jobs share it so they run exactly the same pipeline.
     */
    static DataStream<Tuple4<Integer, Integer, Double, Long>> topSpeeds(StreamExecutionEnvironment env,
            DataStream<Tuple4<Integer, Integer, Double, Long>> cars, Evictor<Object, GlobalWindow> evictor, double triggerMeters) {
        return cars
                .keyBy(value -> value.f0)
                .window(GlobalWindows.create())
                .evictor(evictor)
                .trigger(DeltaTrigger.of(triggerMeters,
                        new DeltaFunction<Tuple4<Integer, Integer, Double, Long>>() {
                            private static final long serialVersionUID = 1L;

                            @Override
                            public double getDelta(Tuple4<Integer, Integer, Double, Long> oldDataPoint,
                                                   Tuple4<Integer, Integer, Double, Long> newDataPoint) {
                                return newDataPoint.f2 - oldDataPoint.f2;
                            }
                        },
                        cars.getType().createSerializer(env.getConfig().getSerializerConfig())))
                .maxBy(1);
    }

    /** The example's FileSink: row format, parts rolled at 1 MiB or 10 s. */
    static FileSink<Tuple4<Integer, Integer, Double, Long>> fileSink(String output) {
        return FileSink.<Tuple4<Integer, Integer, Double, Long>>forRowFormat(new Path(output), new SimpleStringEncoder<>())
                .withRollingPolicy(DefaultRollingPolicy.builder()
                        .withMaxPartSize(MemorySize.ofMebiBytes(1))
                        .withRolloverInterval(Duration.ofSeconds(10))
                        .build())
                .build();
    }

    public static void main(String[] args) throws Exception {
        String input = null;
        String output = null;
        long evictMs = 10_000;
        int sample = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--input": input = args[++i]; break;
                case "--output": output = args[++i]; break;
                case "--evict-ms": evictMs = Long.parseLong(args[++i]); break;
                case "--state-sample": sample = Integer.parseInt(args[++i]); break;
                default:
                    System.err.println("usage: TopSpeedWindowingEvict --input FILE --output DIR [--evict-ms 10000] [--state-sample N]");
                    System.exit(2);
            }
        }
        if (input == null || output == null || evictMs < 1 || sample < 0) {
            System.err.println("TopSpeedWindowingEvict: need --input FILE --output DIR, --evict-ms >= 1, --state-sample >= 0");
            System.exit(2);
        }
        final double triggerMeters = 50;

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        FileSource<String> source = FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(input)).build();
        DataStream<Tuple4<Integer, Integer, Double, Long>> carData =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "file-input").map(new ParseCarData()).name("parse-input");

        TimeEvictor<GlobalWindow> timeEvictor = TimeEvictor.of(Duration.ofMillis(evictMs));
        Evictor<Object, GlobalWindow> evictor = sample > 0 ? new SampledEvictor(timeEvictor, sample) : timeEvictor;

        DataStream<Tuple4<Integer, Integer, Double, Long>> topSpeeds = topSpeeds(env, withCarTime(carData), evictor, triggerMeters);
        topSpeeds.sinkTo(fileSink(output)).name("file-sink");

        long t0 = System.nanoTime();
        env.execute("CarTopSpeedWindowingExample");
        double wall = (System.nanoTime() - t0) / 1e9;
        long elems = 0;
        for (int n : SAMPLED.values()) {
            elems += n;
        }
        System.out.printf(Locale.ROOT, "job_seconds=%.3f parallelism=%d evict_ms=%d%n", wall, env.getParallelism(), evictMs);
        if (sample > 0) {
            System.out.printf(Locale.ROOT, "state cars=%d sampled_elements=%d%n", SAMPLED.size(), elems);
        }
    }

    private TopSpeedWindowingEvict() {}
}
