package streams.peer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Bytes to a {@link Change} or a {@link Rejection}, with the CustomDataChange rules of
 * schemas/ (strict JSON types, UTF-8 byte limits, RFC 3339 with an offset) and the clock-skew
 * check. Rejection reasons as the worker gives them: a record that is not a JSON object is
 * {@code unparseable}; errors in custom_data alone {@code too_large} (over 256 characters or
 * bytes), in conversation_id alone {@code bad_conversation_id}; anything else {@code schema}.
 */
final class Decoder {
  static final int MAX_ID_BYTES = 128;
  static final int MAX_CUSTOM_DATA_BYTES = 256;
  static final int MAX_KEY_BYTES = 1024;
  static final int MAX_MESSAGE_BYTES = 64 * 1024;
  private static final long MAX_VERSION = (1L << 53) - 1;
  private static final Pattern FORBIDDEN_ID_CHARS =
      Pattern.compile("[/\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]");
  private static final Pattern RFC3339 = Pattern.compile(
      "(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
          + "[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?"
          + "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])");
  /** Python's datetime.isoformat(), which the worker's outcomes carry. */
  private static final DateTimeFormatter ISO_SECONDS =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ssxxx");
  private static final DateTimeFormatter ISO_MICROS =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSSSSxxx");

  private final ObjectMapper json =
      new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private final long maxSkewS;

  Decoder(long maxSkewS) {
    this.maxSkewS = maxSkewS;
  }

  /** A record the worker would not apply, and why. */
  record Rejection(
      String reason,
      String info,
      String eventId,
      String userId,
      String conversationId,
      Long version,
      String occurredAt) {}

  /** A valid change; {@code order} is (version or -1, occurred_at in UTC us, offset). */
  record Change(
      String eventId,
      String userId,
      String conversationId,
      String customData,
      Long version,
      String occurredAt,
      long[] order) {

    /** The last-applied store's key: user and conversation ('/' is in neither id). */
    String conversationKey() {
      return userId + "/" + conversationId;
    }
  }

  Object decode(byte[] key, byte[] value, long offset, Instant now) {
    if (key != null && key.length > MAX_KEY_BYTES) {
      return new Rejection("too_large", "key is " + key.length + " bytes; at most "
          + MAX_KEY_BYTES + " are accepted", null, null, null, null, null);
    }
    if (value == null) {
      return new Rejection("unparseable", "message has no value", null, null, null, null, null);
    }
    if (value.length > MAX_MESSAGE_BYTES) {
      return new Rejection("too_large", "message is " + value.length + " bytes; at most "
          + MAX_MESSAGE_BYTES + " are accepted", null, null, null, null, null);
    }
    JsonNode doc;
    try {
      doc = json.readTree(value);
    } catch (JsonProcessingException e) {
      return unparseable("not a JSON object: " + e.getOriginalMessage());
    } catch (java.io.IOException e) {
      return unparseable("not a JSON object: " + e.getMessage());
    }
    if (doc == null || !doc.isObject()) {
      return unparseable("not a JSON object");
    }
    Map<String, String> errors = new LinkedHashMap<>();
    String eventId = text(doc, "event_id", errors, false);
    if (eventId != null && (eventId.isEmpty() || eventId.codePointCount(0, eventId.length()) > MAX_ID_BYTES)) {
      errors.put("event_id", "must be 1..128 characters");
    }
    String userId = text(doc, "user_id", errors, false);
    if (userId != null) {
      String problem = accountIdProblem(userId);
      if (problem != null) {
        errors.put("user_id", problem);
      }
    }
    String conversationId = text(doc, "conversation_id", errors, false);
    if (conversationId != null) {
      String problem = conversationIdProblem(conversationId);
      if (problem != null) {
        errors.put("conversation_id", problem);
      }
    }
    String customData = text(doc, "custom_data", errors, false);
    boolean customDataTooLong = customData != null && (utf8Length(customData) > MAX_CUSTOM_DATA_BYTES
        || customData.codePointCount(0, customData.length()) > MAX_CUSTOM_DATA_BYTES);
    if (customDataTooLong) {
      errors.put("custom_data", "is " + utf8Length(customData) + " UTF-8 bytes; at most "
          + MAX_CUSTOM_DATA_BYTES + " are allowed");
    }
    OffsetDateTime occurredAt = null;
    String occurredText = text(doc, "occurred_at", errors, false);
    if (occurredText != null) {
      occurredAt = rfc3339(occurredText);
      if (occurredAt == null) {
        errors.put("occurred_at", "must be an RFC 3339 date-time with an offset");
      }
    }
    Long version = null;
    JsonNode versionNode = doc.get("version");
    if (versionNode != null && !versionNode.isNull()) {
      if (versionNode.isIntegralNumber() && versionNode.canConvertToLong()
          && versionNode.asLong() >= 0 && versionNode.asLong() <= MAX_VERSION) {
        version = versionNode.asLong();
      } else {
        errors.put("version", "must be an integer in 0..2^53-1");
      }
    }
    String source = text(doc, "source", errors, true);
    if (source != null && source.codePointCount(0, source.length()) > 256) {
      errors.put("source", "must be at most 256 characters");
    }
    if (!errors.isEmpty()) {
      String reason = errors.keySet().equals(java.util.Set.of("conversation_id"))
          ? "bad_conversation_id"
          : errors.keySet().equals(java.util.Set.of("custom_data")) && customDataTooLong
              ? "too_large"
              : "schema";
      List<String> parts = new ArrayList<>();
      errors.forEach((field, message) -> parts.add(field + ": " + message));
      return new Rejection(reason, String.join("; ", parts), partial(doc, "event_id"),
          partial(doc, "user_id"), partial(doc, "conversation_id"), null, null);
    }
    String occurred = isoformat(occurredAt);
    if (occurredAt.toInstant().isAfter(now.plusSeconds(maxSkewS))) {
      return new Rejection("clock_skew", "occurred_at is more than " + maxSkewS
          + " s in the future", eventId, userId, conversationId, version, occurred);
    }
    Instant at = occurredAt.toInstant();
    long micros = Math.addExact(Math.multiplyExact(at.getEpochSecond(), 1_000_000L), at.getNano() / 1_000L);
    long[] order = {version == null ? -1 : version, micros, offset};
    return new Change(eventId, userId, conversationId, customData, version, occurred, order);
  }

  private static Rejection unparseable(String info) {
    return new Rejection("unparseable", info, null, null, null, null, null);
  }

  /** A string field (strict: no other JSON type); records an error when absent or mistyped. */
  private static String text(JsonNode doc, String name, Map<String, String> errors, boolean optional) {
    JsonNode node = doc.get(name);
    if (node == null || node.isNull()) {
      if (!optional) {
        errors.put(name, "field required");
      }
      return null;
    }
    if (!node.isTextual()) {
      errors.put(name, "must be a string");
      return null;
    }
    String value = node.textValue();
    if (!validUnicode(value)) {
      errors.put(name, "must be valid Unicode (no lone surrogates)");
      return null;
    }
    return value;
  }

  private static String partial(JsonNode doc, String name) {
    JsonNode node = doc.get(name);
    return node != null && node.isTextual() && node.textValue().length() <= MAX_ID_BYTES
        ? node.textValue() : null;
  }

  static String accountIdProblem(String id) {
    if (id.isEmpty()) {
      return "must not be empty";
    }
    if (utf8Length(id) > MAX_ID_BYTES) {
      return "must be at most " + MAX_ID_BYTES + " UTF-8 bytes";
    }
    if (FORBIDDEN_ID_CHARS.matcher(id).find()) {
      return "must not contain '/', whitespace or control characters";
    }
    return null;
  }

  private static String conversationIdProblem(String id) {
    for (String prefix : new String[] {"c2c_", "group_"}) {
      if (id.startsWith(prefix)) {
        String problem = accountIdProblem(id.substring(prefix.length()));
        return problem == null ? null : "the id after '" + prefix + "' " + problem;
      }
    }
    return "must be 'c2c_<userID>' or 'group_<groupID>'";
  }

  private static OffsetDateTime rfc3339(String text) {
    if (!RFC3339.matcher(text).matches()) {
      return null;
    }
    try {
      return OffsetDateTime.parse(text.replace('t', 'T').replace('z', 'Z'))
          .truncatedTo(ChronoUnit.MICROS);
    } catch (DateTimeParseException e) {
      return null;
    }
  }

  static String isoformat(OffsetDateTime moment) {
    return (moment.getNano() == 0 ? ISO_SECONDS : ISO_MICROS).format(moment);
  }

  private static boolean validUnicode(String value) {
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 >= value.length() || !Character.isLowSurrogate(value.charAt(i + 1))) {
          return false;
        }
        i++;
      } else if (Character.isLowSurrogate(c)) {
        return false;
      }
    }
    return true;
  }

  private static int utf8Length(String value) {
    return value.getBytes(StandardCharsets.UTF_8).length;
  }
}
