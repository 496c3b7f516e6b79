package streams.examples;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes CustomDataChange events to the changes topic with Apache Kafka's Java client, keyed by
 * user_id (docs/CONTRACT.md).
 *
 * <p>The Java client's default partitioning of a record with a key is what the worker expects:
 * {@code toPositive(murmur2(key)) % partitions}. So nothing is set for it: leave {@code
 * partitioner.class} unset and {@code partitioner.ignore.keys} false (RoundRobinPartitioner or
 * ignoring keys would misroute).
 *
 * <p>It generates {@code --n} changes over {@code --users} users and {@code --conversations}
 * conversations per user, each with a unique event_id and an increasing version, so a repeated
 * conversation makes a later change supersede an earlier one; event, user and conversation ids
 * start with {@code --run-id}. For every record it prints one JSON line on standard output:
 * {"event_id", "key", "partition", "offset"}, the position Kafka assigned.
 */
public final class ProduceChanges {
    private static final DateTimeFormatter RFC3339 =
        DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX");

    private ProduceChanges() {}

    public static void main(String[] argv) throws Exception {
        Args args = new Args(argv, Map.of(
            "brokers", "127.0.0.1:9092",
            "topic", "conversation-custom-data-changes",
            "n", "100",
            "users", "20",
            "conversations", "3",
            "run-id", "java-" + System.nanoTime(),
            "timeout-s", "60"));
        String topic = args.string("topic");
        String runId = args.string("run-id");
        int n = args.integer("n");
        int users = args.integer("users");
        int conversations = args.integer("conversations");

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args.string("brokers"));
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "streams-example-producer-java");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.ACKS_CONFIG, "all"); // the default, with idempotence
        long timeoutMs = (long) (args.number("timeout-s") * 1000);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) Math.max(timeoutMs, 30_000));
        // No transactional.id: the changes topic is produced without transactions.

        ObjectMapper json = new ObjectMapper();
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        List<String> keys = new ArrayList<>();
        List<String> eventIds = new ArrayList<>();
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < n; i++) {
                int user = i % users;
                int conversation = (i / users) % conversations;
                ObjectNode change = json.createObjectNode()
                    .put("event_id", String.format("%s-%06d", runId, i))
                    .put("user_id", String.format("%s-user-%03d", runId, user))
                    .put("conversation_id",
                        String.format("c2c_%s-peer-%03d-%d", runId, user, conversation))
                    .put("custom_data", "from java #" + i)
                    // RFC 3339 with seconds and an offset (no Unix times).
                    .put("occurred_at", now.plusNanos(i * 1_000_000L).format(RFC3339))
                    .put("version", (long) i)
                    .put("source", "java-example");
                String key = change.get("user_id").asText();
                keys.add(key);
                eventIds.add(change.get("event_id").asText());
                // Key = user_id: the default partitioner hashes it with murmur2.
                sent.add(producer.send(new ProducerRecord<>(topic, key, json.writeValueAsString(change))));
            }
            producer.flush();
            for (int i = 0; i < n; i++) {
                RecordMetadata meta = sent.get(i).get(timeoutMs, TimeUnit.MILLISECONDS);
                ObjectNode line = json.createObjectNode()
                    .put("event_id", eventIds.get(i))
                    .put("key", keys.get(i))
                    .put("partition", meta.partition())
                    .put("offset", meta.offset());
                System.out.println(json.writeValueAsString(line));
            }
        }
        System.out.flush();
        System.err.printf("producer: published %d changes to %s%n", n, topic);
    }
}
