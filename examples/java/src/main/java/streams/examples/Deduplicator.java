package streams.examples;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The authoritative outcome per source, as docs/CONTRACT.md asks of every consumer: outcomes come
 * at least once, so they are deduplicated by {@code source} (the input record's topic, partition
 * and offset); the first final one ({@code applied} or {@code failed}) wins, another status seen
 * first is replaced by a final one that follows (printed with {@code "replaces"}), later ones
 * are dropped. Only events whose event_id starts with the prefix count; others are skipped.
 */
final class Deduplicator {
    record Source(String topic, int partition, long offset) {}

    private final ObjectMapper json = new ObjectMapper();
    private final Map<Source, String> kept = new HashMap<>();
    private final String prefix;
    private final PrintStream out;
    private int dropped;
    private int replaced;
    private int skipped;

    Deduplicator(PrintStream out, String prefix) {
        this.out = out;
        this.prefix = prefix;
    }

    private static boolean isFinal(String status) {
        return status.equals("applied") || status.equals("failed");
    }

    /** Takes one outcome record's value; prints it if it is kept. */
    void offer(String value) throws JsonProcessingException {
        JsonNode outcome = json.readTree(value);
        if (!outcome.path("event_id").asText().startsWith(prefix)) {
            skipped++;
            return;
        }
        JsonNode s = outcome.path("source");
        Source source = new Source(
            s.path("topic").asText(), s.path("partition").asInt(), s.path("offset").asLong());
        String status = outcome.path("status").asText();
        String previous = kept.get(source);
        if (previous == null) {
            kept.put(source, status);
            out.println(value);
        } else if (!isFinal(previous) && isFinal(status)) {
            kept.put(source, status);
            replaced++;
            out.println(json.writeValueAsString(((ObjectNode) outcome).put("replaces", previous)));
        } else {
            dropped++;
        }
    }

    int sources() {
        return kept.size();
    }

    String summary() {
        Map<String, Integer> statuses = new TreeMap<>();
        kept.values().forEach(status -> statuses.merge(status, 1, Integer::sum));
        StringBuilder parts = new StringBuilder();
        statuses.forEach((status, count) ->
            parts.append(parts.length() > 0 ? " " : "").append(status).append('=').append(count));
        return String.format(
            "%d sources (%s); %d redelivered outcomes dropped, %d replaced by a final one, "
                + "%d of other events skipped",
            kept.size(), parts, dropped, replaced, skipped);
    }
}
