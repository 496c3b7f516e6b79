// Publish one CustomDataChange to the stream processor's changes topic with the Java client.
//
// The Java client's default partitioning for a record with a key is what the worker expects:
// toPositive(murmur2(key)) % partitions (docs/CONTRACT.md). Leave `partitioner.class` unset:
// RoundRobinPartitioner, UniformStickyPartitioner or `partitioner.ignore.keys=true` would
// misroute. The key must be the user_id (UTF-8), the value the change as JSON.
//
// Not built by `make examples` or the tests (no kafka-clients jar here). With kafka-clients
// (org.apache.kafka:kafka-clients, 3.x or 4.x) and its slf4j-api on the class path, Java 11+
// runs the file as it is:
//
//   java -cp kafka-clients.jar:slf4j-api.jar PublishChange.java localhost:9092 alice c2c_bob pinned
//
// Arguments: bootstrap servers, user_id, conversation_id, custom_data, optional version.

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

public final class PublishChange {
    static final String TOPIC = "conversation-custom-data-changes";

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println(
                "usage: PublishChange BOOTSTRAP USER_ID CONVERSATION_ID CUSTOM_DATA [VERSION]");
            System.exit(2);
        }
        String userId = args[1];
        String conversationId = args[2];
        String customData = args[3];
        Long version = args.length > 4 ? Long.valueOf(args[4]) : null;

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        // No transactional.id: the changes topic must be produced without transactions.

        // occurred_at: RFC 3339 with seconds and an offset (no Unix times).
        String occurredAt = OffsetDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.MILLIS)
            .format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        String value = "{"
            + "\"event_id\":" + json(UUID.randomUUID().toString())
            + ",\"user_id\":" + json(userId)
            + ",\"conversation_id\":" + json(conversationId)
            + ",\"custom_data\":" + json(customData)
            + ",\"occurred_at\":" + json(occurredAt)
            + (version != null ? ",\"version\":" + version : "")
            + ",\"source\":\"java-example\""
            + "}";

        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            // Key = user_id: the default partitioner hashes it with murmur2.
            RecordMetadata sent = producer.send(new ProducerRecord<>(TOPIC, userId, value)).get();
            int partitions = producer.partitionsFor(TOPIC).size();
            int expected = Utils.toPositive(Utils.murmur2(userId.getBytes("UTF-8"))) % partitions;
            System.out.printf("published %s to %s-%d at offset %d (murmur2 says partition %d)%n",
                value, sent.topic(), sent.partition(), sent.offset(), expected);
        }
    }

    /** A JSON string literal (quotes, backslashes and control characters escaped). */
    static String json(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }
}
