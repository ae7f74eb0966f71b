package org.topspeed.bench;

import java.time.Duration;
import java.util.Locale;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SimpleStringEncoder;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.filesystem.rollingpolicies.DefaultRollingPolicy;
import org.apache.flink.streaming.examples.wordcount.WordCount;

/**
 * Flink 1.20's WordCount example (file input and output, STREAMING), the
 * same pipeline with the example's own Tokenizer, on the tuned environment
 * of {@link TunedEnv}: bench/run's "Flink tuned" row of S6. The source and
 * the tokenizer run at --source-parallelism (1), feeding keyBy(word).sum(1)
 * at --parallelism (2) and the FileSink (row format rolled at 1 MiB or
 * 10 s, as the example). One (word,count) record per word occurrence, the
 * running count, as the example: checked against topspeed's by benchtool
 * wccheck.
 *
 * <pre>
 *   WordCountTuned --input FILE --output DIR [TunedEnv flags]
 * </pre>
 */
public final class WordCountTuned {

    public static void main(String[] args) throws Exception {
        TunedEnv.JobArgs parsed = TunedEnv.parseJob("WordCountTuned", args);
        String input = parsed.input;
        String output = parsed.output;
        TunedEnv tuned = parsed.tuned;
        StreamExecutionEnvironment env = tuned.create();
        System.err.println("WordCountTuned: " + tuned.describe());

        FileSource<String> source = FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(input)).build();
        DataStream<Tuple2<String, Integer>> counts = env
                .fromSource(source, WatermarkStrategy.noWatermarks(), "file-input").setParallelism(tuned.sourceParallelism)
                .flatMap(new WordCount.Tokenizer()).name("tokenizer").setParallelism(tuned.sourceParallelism)
                .keyBy(value -> value.f0)
                .sum(1)
                .name("counter");

        counts.sinkTo(FileSink.<Tuple2<String, Integer>>forRowFormat(new Path(output), new SimpleStringEncoder<>())
                        .withRollingPolicy(DefaultRollingPolicy.builder()
                                .withMaxPartSize(MemorySize.ofMebiBytes(1))
                                .withRolloverInterval(Duration.ofSeconds(10))
                                .build())
                        .build())
                .name("file-sink");

        long t0 = System.nanoTime();
        env.execute("WordCount");
        System.out.printf(Locale.ROOT, "job_seconds=%.3f%n", (System.nanoTime() - t0) / 1e9);
    }

    private WordCountTuned() {}
}
