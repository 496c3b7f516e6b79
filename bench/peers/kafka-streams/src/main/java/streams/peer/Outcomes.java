package streams.peer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Outcome JSON (DESIGN section 3, every field present), written with Jackson's generator. */
final class Outcomes {
  private final JsonFactory factory = new JsonFactory();
  private final String topic;
  private final int partition;

  Outcomes(String topic, int partition) {
    this.topic = topic;
    this.partition = partition;
  }

  /** The fields an outcome takes besides the event's own; null where the contract says null. */
  record Verdict(
      String status,
      String reason,
      Integer code,
      String info,
      String supersededBy,
      String requestId,
      int attempts) {}

  byte[] forChange(Decoder.Change c, Verdict v, String processedAt, long offset) {
    return write(c.eventId(), c.userId(), c.conversationId(), c.version(), c.occurredAt(),
        c.customData(), v, processedAt, offset);
  }

  byte[] forRejection(Decoder.Rejection r, String processedAt, long offset) {
    Verdict v = new Verdict("rejected", r.reason(), null, r.info(), null, null, 0);
    return write(r.eventId(), r.userId(), r.conversationId(), r.version(), r.occurredAt(), null,
        v, processedAt, offset);
  }

  private byte[] write(String eventId, String userId, String conversationId, Long version,
      String occurredAt, String customData, Verdict v, String processedAt, long offset) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(512);
    try (JsonGenerator g = factory.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("event_id", eventId);
      g.writeStringField("user_id", userId);
      g.writeStringField("conversation_id", conversationId);
      if (version == null) {
        g.writeNullField("version");
      } else {
        g.writeNumberField("version", version);
      }
      g.writeStringField("occurred_at", occurredAt);
      g.writeStringField("status", v.status());
      g.writeStringField("reason", v.reason());
      if (v.code() == null) {
        g.writeNullField("code");
      } else {
        g.writeNumberField("code", v.code());
      }
      g.writeStringField("info", v.info());
      g.writeStringField("custom_data", customData);
      g.writeStringField("superseded_by", v.supersededBy());
      g.writeStringField("request_id", v.requestId());
      g.writeNumberField("attempts", v.attempts());
      g.writeStringField("processed_at", processedAt);
      g.writeObjectFieldStart("source");
      g.writeStringField("topic", topic);
      g.writeNumberField("partition", partition);
      g.writeNumberField("offset", offset);
      g.writeEndObject();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
