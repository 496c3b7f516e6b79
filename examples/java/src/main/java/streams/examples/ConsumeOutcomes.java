package streams.examples;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads the outcomes topic as a member of a consumer group with Apache Kafka's Java client and
 * prints each event's authoritative outcome (see {@link Deduplicator}: its first outcome, and a
 * correction marked {@code "corrects": true} when a later one overrides it, such as the
 * {@code applied} of a replayed copy after a {@code failed}), one JSON line each on standard
 * output; a summary goes to standard error.
 *
 * <p>Offsets are committed synchronously after the records of a poll are printed. Partitions
 * move only inside {@code poll}, so every record printed is committed before this member can
 * lose its partition; a crash before the commit prints them again, and the next member
 * deduplicates them like any redelivery. A new group starts at the oldest outcome.
 *
 * <p>With {@code --expect N} it stops once N distinct sources have an outcome and exits 0 (1 if
 * {@code --timeout-s} passes first); otherwise it runs until interrupted. {@code --event-prefix}
 * keeps only the events of one producer's run.
 */
public final class ConsumeOutcomes {
    private ConsumeOutcomes() {}

    public static void main(String[] argv) throws Exception {
        Args args = new Args(argv, Map.of(
            "brokers", "127.0.0.1:9092",
            "topic", "conversation-custom-data-outcomes",
            "group", "streams-example-outcomes-java",
            "event-prefix", "",
            "expect", "0",
            "timeout-s", "0"));
        int expect = args.integer("expect");
        double timeoutS = args.number("timeout-s");
        long deadline = timeoutS > 0 ? System.nanoTime() + (long) (timeoutS * 1e9) : Long.MAX_VALUE;

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args.string("brokers"));
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "streams-example-consumer-java");
        props.put(ConsumerConfig.GROUP_ID_CONFIG, args.string("group"));
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false"); // committed below
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());

        Deduplicator dedup = new Deduplicator(System.out, args.string("event-prefix"));
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props);
        // Ctrl-C / SIGTERM while polling: wake the poll up, then wait until the group is left.
        AtomicBoolean polling = new AtomicBoolean(true);
        Thread main = Thread.currentThread();
        Thread hook = new Thread(() -> {
            if (polling.get()) {
                consumer.wakeup();
                try {
                    main.join(15_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            consumer.subscribe(List.of(args.string("topic")));
            while ((expect == 0 || dedup.sources() < expect) && System.nanoTime() < deadline) {
                ConsumerRecords<String, String> records;
                try {
                    records = consumer.poll(Duration.ofMillis(500));
                } catch (WakeupException e) {
                    break;
                }
                for (ConsumerRecord<String, String> record : records) {
                    try {
                        dedup.offer(record.value());
                    } catch (JsonProcessingException e) {
                        System.err.printf("consumer: skipping %s/%d/%d: not an outcome: %s%n",
                            record.topic(), record.partition(), record.offset(), e.getMessage());
                    }
                }
                if (!records.isEmpty()) {
                    consumer.commitSync();
                }
            }
        } finally {
            System.out.flush();
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(10))); // leaves the group
            polling.set(false);
        }
        System.err.println("consumer: " + dedup.summary());
        if (expect > 0 && dedup.sources() < expect) {
            System.err.printf("consumer: FAILED: %d of %d expected sources before the timeout%n",
                dedup.sources(), expect);
            System.exit(1);
        }
    }
}
