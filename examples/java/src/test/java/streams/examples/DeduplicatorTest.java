package streams.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The rules of {@link Deduplicator}, the same as the Go consumer's (examples/go/consumer/
 * dedup_test.go): the first outcome of a source is printed; a later one only when it outranks it
 * ({@code applied} after anything else, {@code failed} after a non-final status), as a correction
 * with {@code "corrects": true} and {@code "replaces"}; everything else is dropped; outcomes of
 * other events are skipped; a value that is not JSON is an error.
 */
class DeduplicatorTest {
    private final ObjectMapper json = new ObjectMapper();
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();

    private static String outcome(String event, String status, long offset) {
        return outcome(event, status, 1, offset);
    }

    private static String outcome(String event, String status, int partition, long offset) {
        return String.format(
            "{\"event_id\":\"%s\",\"status\":\"%s\","
                + "\"source\":{\"topic\":\"changes\",\"partition\":%d,\"offset\":%d}}",
            event, status, partition, offset);
    }

    private Deduplicator deduplicator(String prefix) {
        return new Deduplicator(new PrintStream(buffer, true, StandardCharsets.UTF_8), prefix);
    }

    /** Offers each value to {@code d} and returns every JSON line printed so far, decoded. */
    private List<JsonNode> offer(Deduplicator d, String... values) throws JsonProcessingException {
        for (String value : values) {
            d.offer(value);
        }
        List<JsonNode> printed = new ArrayList<>();
        for (String line : buffer.toString(StandardCharsets.UTF_8).lines().toList()) {
            if (!line.isBlank()) {
                printed.add(json.readTree(line));
            }
        }
        return printed;
    }

    /**
     * One line per printed outcome: its status, then {@code corrects=} and {@code replaces=} with
     * their JSON values if it has them (so {@code "true"}, a string, would not pass for
     * {@code true}).
     */
    private static String describe(List<JsonNode> printed) {
        return printed.stream()
            .map(doc -> doc.path("status").asText()
                + (doc.has("corrects") ? " corrects=" + doc.get("corrects") : "")
                + (doc.has("replaces") ? " replaces=" + doc.get("replaces") : ""))
            .collect(Collectors.joining("\n"));
    }

    @Test
    void firstOutcomeWinsAndOtherEventsAreSkipped() throws JsonProcessingException {
        Deduplicator d = deduplicator("run-");
        List<JsonNode> printed = offer(d,
            outcome("run-1", "applied", 1),
            outcome("run-1", "duplicate", 1), // redelivered after a crash: dropped
            outcome("run-2", "superseded", 2),
            outcome("run-2", "applied", 2), // a final one corrects the earlier status
            outcome("run-2", "stale", 2), // dropped
            outcome("other-3", "applied", 3)); // another run's event: skipped
        assertEquals(
            String.join("\n",
                "applied",
                "superseded",
                "applied corrects=true replaces=\"superseded\""),
            describe(printed));
        // A first outcome is printed as it came.
        assertEquals(json.readTree(outcome("run-1", "applied", 1)), printed.get(0));
        assertEquals(json.readTree(outcome("run-2", "superseded", 2)), printed.get(1));
        // A correction is the later outcome itself, with the two fields added.
        ObjectNode correction = (ObjectNode) json.readTree(outcome("run-2", "applied", 2));
        correction.put("corrects", true).put("replaces", "superseded");
        assertEquals(correction, printed.get(2));
        assertEquals(2, d.sources());
        assertEquals(
            "2 sources (applied=2); 2 redelivered outcomes dropped, 1 corrected by a later one, "
                + "1 of other events skipped",
            d.summary());
    }

    @Test
    void aValueThatIsNotJsonThrows() throws JsonProcessingException {
        Deduplicator d = deduplicator("");
        assertThrows(JsonProcessingException.class, () -> d.offer("not json"));
        assertEquals(List.of(), offer(d));
        assertEquals(
            "0 sources (); 0 redelivered outcomes dropped, 0 corrected by a later one, "
                + "0 of other events skipped",
            d.summary());
    }

    @Test
    void appliedAfterFailedCorrectsIt() throws JsonProcessingException {
        // A `streams replay` copy's outcome names its original source: failed, then applied.
        Deduplicator d = deduplicator("");
        List<JsonNode> printed = offer(d,
            outcome("e-1", "failed", 1),
            outcome("e-1", "failed", 1), // redelivered: dropped
            outcome("e-1", "applied", 1),
            outcome("e-1", "failed", 1), // after applied: dropped
            outcome("e-1", "duplicate", 1), // after applied: dropped
            outcome("e-1", "applied", 1)); // redelivered: dropped
        assertEquals(
            String.join("\n", "failed", "applied corrects=true replaces=\"failed\""),
            describe(printed));
        assertEquals(1, d.sources());
        assertEquals(
            "1 sources (applied=1); 4 redelivered outcomes dropped, 1 corrected by a later one, "
                + "0 of other events skipped",
            d.summary());
    }

    @Test
    void failedCorrectsOnlyANonFinalOutcome() throws JsonProcessingException {
        Deduplicator d = deduplicator("");
        List<JsonNode> printed = offer(d,
            outcome("e-1", "superseded", 1),
            outcome("e-1", "failed", 1), // corrects the non-final status
            outcome("e-1", "stale", 1), // dropped
            outcome("e-1", "applied", 1), // corrects the failed one in turn
            outcome("e-2", "applied", 2),
            outcome("e-2", "failed", 2), // never overrides an applied
            outcome("e-3", "superseded", 3),
            outcome("e-3", "stale", 3)); // a non-final status never corrects another
        assertEquals(
            String.join("\n",
                "superseded",
                "failed corrects=true replaces=\"superseded\"",
                "applied corrects=true replaces=\"failed\"",
                "applied",
                "superseded"),
            describe(printed));
        assertEquals(
            "3 sources (applied=2 superseded=1); 3 redelivered outcomes dropped, "
                + "2 corrected by a later one, 0 of other events skipped",
            d.summary());
    }

    @Test
    void outcomesAreKeptPerSource() throws JsonProcessingException {
        // The same offset of another partition is another source: both first outcomes print.
        Deduplicator d = deduplicator("");
        List<JsonNode> printed = offer(d,
            outcome("e-1", "failed", 0, 7),
            outcome("e-2", "failed", 1, 7),
            outcome("e-2", "applied", 1, 7)); // corrects partition 1's alone
        assertEquals(
            String.join("\n", "failed", "failed", "applied corrects=true replaces=\"failed\""),
            describe(printed));
        assertEquals(1, printed.get(2).path("source").path("partition").asInt());
        assertEquals(
            "2 sources (applied=1 failed=1); 0 redelivered outcomes dropped, "
                + "1 corrected by a later one, 0 of other events skipped",
            d.summary());
    }
}
