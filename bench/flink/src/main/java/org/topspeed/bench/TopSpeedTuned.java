package org.topspeed.bench;

import java.time.Duration;
import java.util.Locale;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.evictors.TimeEvictor;

/**
 * Flink 1.20's TopSpeedWindowing example (file input and output), the same
 * pipeline operator for operator, on the tuned environment of
 * {@link TunedEnv}: bench/run's "Flink tuned" row of S1. The source, the
 * example's parser and the timestamp assigner run at --source-parallelism
 * (1), feeding keyBy(carId) into --parallelism (2) window subtasks and file
 * sinks. Everything the job computes is the example's: GlobalWindows,
 * TimeEvictor 10 s, DeltaTrigger 50 m on distance, maxBy(1), FileSink row
 * format rolled at 1 MiB or 10 s; its output is checked equal to
 * topspeed's.
 *
 * <pre>
 *   TopSpeedTuned --input FILE --output DIR [TunedEnv flags]
 * </pre>
 */
public final class TopSpeedTuned {

    public static void main(String[] args) throws Exception {
        TunedEnv.JobArgs parsed = TunedEnv.parseJob("TopSpeedTuned", args);
        String input = parsed.input;
        String output = parsed.output;
        TunedEnv tuned = parsed.tuned;
        StreamExecutionEnvironment env = tuned.create();
        System.err.println("TopSpeedTuned: " + tuned.describe());

        FileSource<String> source = FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(input)).build();
        DataStream<Tuple4<Integer, Integer, Double, Long>> carData = env
                .fromSource(source, WatermarkStrategy.noWatermarks(), "file-input").setParallelism(tuned.sourceParallelism)
                .map(new TopSpeedWindowingEvict.ParseCarData()).name("parse-input").setParallelism(tuned.sourceParallelism);

        DataStream<Tuple4<Integer, Integer, Double, Long>> timed = TopSpeedWindowingEvict.withCarTime(carData)
                .setParallelism(tuned.sourceParallelism);
        DataStream<Tuple4<Integer, Integer, Double, Long>> topSpeeds =
                TopSpeedWindowingEvict.topSpeeds(env, timed, TimeEvictor.of(Duration.ofSeconds(10)), 50);
        topSpeeds.sinkTo(TopSpeedWindowingEvict.fileSink(output)).name("file-sink");

        long t0 = System.nanoTime();
        env.execute("CarTopSpeedWindowingExample");
        System.out.printf(Locale.ROOT, "job_seconds=%.3f%n", (System.nanoTime() - t0) / 1e9);
    }

    private TopSpeedTuned() {}
}
