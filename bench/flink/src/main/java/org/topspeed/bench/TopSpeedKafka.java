package org.topspeed.bench;

import java.time.Duration;
import java.util.Locale;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.evictors.TimeEvictor;

/**
 * Flink 1.20's TopSpeedWindowing example reading a Kafka topic instead of a
 * file: bench/run's scenario S7 (bench/README.md). The source is a bounded
 * {@link KafkaSource}: it starts at the earliest offset of every partition
 * and stops at the end offsets it sees when the job starts
 * ({@code setBounded(OffsetsInitializer.latest())}), so the job ends once
 * it has read the whole topic. Each record's value is one line of the
 * example's format {@code (carId,speed,distance,timestamp)}, parsed by the
 * example's parser; the rest is the example's pipeline: event time from the
 * report's timestamp (forMonotonousTimestamps), keyBy carId, GlobalWindows,
 * TimeEvictor 10 s, DeltaTrigger 50 on distance, maxBy(1), FileSink row
 * format rolled at 1 MiB or 10 s.
 *
 * <pre>
 *   TopSpeedKafka --brokers HOST:PORT --topic T --group G --output DIR [--parallelism 2]
 * </pre>
 *
 * The group id is only used for Flink's client ids and (unused here) offset
 * commits: the starting offsets come from the initializer, not the group.
 * Prints {@code job_seconds=S parallelism=P} when the job has ended.
 */
public final class TopSpeedKafka {

    public static void main(String[] args) throws Exception {
        String brokers = null;
        String topic = null;
        String group = null;
        String output = null;
        int parallelism = 2;
        for (int i = 0; i < args.length; i++) {
            if (i + 1 >= args.length) {
                usage("missing value of " + args[i]);
            }
            switch (args[i]) {
                case "--brokers": brokers = args[++i]; break;
                case "--topic": topic = args[++i]; break;
                case "--group": group = args[++i]; break;
                case "--output": output = args[++i]; break;
                case "--parallelism": parallelism = Integer.parseInt(args[++i]); break;
                default: usage("unknown argument " + args[i]);
            }
        }
        if (brokers == null || topic == null || group == null || output == null) {
            usage("need --brokers, --topic, --group and --output");
        }
        if (parallelism < 1 || parallelism > 1024) {
            usage("--parallelism must be in 1..1024");
        }
        final double triggerMeters = 50;

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(parallelism);
        KafkaSource<String> source = KafkaSource.<String>builder()
                .setBootstrapServers(brokers)
                .setTopics(topic)
                .setGroupId(group)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setBounded(OffsetsInitializer.latest())
                .setValueOnlyDeserializer(new SimpleStringSchema())
                .build();
        DataStream<Tuple4<Integer, Integer, Double, Long>> carData =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "kafka-input")
                        .map(new TopSpeedWindowingEvict.ParseCarData()).name("parse-input");

        DataStream<Tuple4<Integer, Integer, Double, Long>> topSpeeds = TopSpeedWindowingEvict.topSpeeds(env,
                TopSpeedWindowingEvict.withCarTime(carData), TimeEvictor.of(Duration.ofSeconds(10)), triggerMeters);
        topSpeeds.sinkTo(TopSpeedWindowingEvict.fileSink(output)).name("file-sink");

        long t0 = System.nanoTime();
        env.execute("CarTopSpeedWindowingKafka");
        double wall = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "job_seconds=%.3f parallelism=%d%n", wall, env.getParallelism());
    }

    private static void usage(String why) {
        System.err.println("TopSpeedKafka: " + why);
        System.err.println("usage: TopSpeedKafka --brokers HOST:PORT --topic T --group G --output DIR [--parallelism 2]");
        System.exit(2);
    }

    private TopSpeedKafka() {}
}
