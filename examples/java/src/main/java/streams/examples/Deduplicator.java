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
 * The authoritative outcome per source, as docs/CONTRACT.md and docs/RELIABILITY.md ask of every
 * consumer: outcomes come at least once (a crash or a rebalance replays events, and a copy
 * re-published by {@code streams replay} gets an outcome naming the original event's
 * {@code source}), so they are deduplicated by {@code source} (the input record's topic,
 * partition and offset). The first final outcome ({@code applied} or {@code failed}) is
 * authoritative, except that a later {@code applied} overrides a {@code failed} ({@code failed}
 * means "not confirmed": a replayed copy that succeeds corrects it).
 *
 * <p>So the first outcome of a source is printed, and a later one only when it outranks the one
 * printed ({@code applied} after anything else, {@code failed} after a non-final status): it is
 * printed as a correction, with {@code "corrects": true} and {@code "replaces"} naming the status
 * it replaces. Every other one is dropped, in particular a {@code failed} or a non-final status
 * after an {@code applied}. Only events whose event_id starts with the prefix count; others are
 * skipped.
 */
final class Deduplicator {
    record Source(String topic, int partition, long offset) {}

    private final ObjectMapper json = new ObjectMapper();
    /** Source -> the status printed last for it. */
    private final Map<Source, String> kept = new HashMap<>();
    private final String prefix;
    private final PrintStream out;
    private int dropped;
    private int corrected;
    private int skipped;

    Deduplicator(PrintStream out, String prefix) {
        this.out = out;
        this.prefix = prefix;
    }

    /** How authoritative an outcome is: applied over failed over any non-final status. */
    private static int rank(String status) {
        return switch (status) {
            case "applied" -> 2;
            case "failed" -> 1;
            default -> 0;
        };
    }

    /**
     * Takes one outcome record's value; prints it if it is kept: the first outcome of its source,
     * or a final one that outranks the one printed for it (as a correction).
     */
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
        } else if (rank(status) > rank(previous)) { // only a final status outranks another
            kept.put(source, status);
            corrected++;
            ObjectNode correction = ((ObjectNode) outcome).put("corrects", true);
            out.println(json.writeValueAsString(correction.put("replaces", previous)));
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
            "%d sources (%s); %d redelivered outcomes dropped, %d corrected by a later one, "
                + "%d of other events skipped",
            kept.size(), parts, dropped, corrected, skipped);
    }
}
