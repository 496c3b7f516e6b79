package streams.peer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The IM REST call the worker's SDK makes (streams/sdk/client.py): {@code POST
 * /v4/recentcontact/mark_contact} with the admin's UserSig in the query string, OptType 2 and one
 * CustomMark per conversation, at most 100 per request. One java.net.http client (HTTP/1.1, kept
 * alive connections) for the process; requests in flight bounded by a semaphore, their rate by
 * the app's token bucket. Retryable failures are retried for the affected conversations only, in
 * rounds with exponential backoff and full jitter, until the retry deadline.
 */
final class ImClient {
  static final String MARK_CONTACT = "/v4/recentcontact/mark_contact";
  static final int MAX_ITEMS = 100;
  /** The client's own codes for failures without a REST code (streams/sdk/codes.py). */
  static final int TRANSPORT_ERROR = -1;
  static final int HTTP_ERROR = -2;
  static final int MALFORMED_RESPONSE = -3;
  private static final Set<Integer> RETRYABLE = Set.of(
      50004, 50005, 60008, 70169, 70500, 60007, 60011, 60018, 60019,
      TRANSPORT_ERROR, MALFORMED_RESPONSE);
  private static final long USERSIG_TTL_S = 86_400;
  private static final Duration TIMEOUT = Duration.ofSeconds(5);
  private static final double BACKOFF_BASE_S = 0.1;
  private static final double BACKOFF_CAP_S = 5.0;

  /** A planned request: one user, up to 100 changes. */
  record Request(String userId, List<Decoder.Change> changes) {}

  /** A change's final answer: the REST code (0 applied), its info, which request, how many tries. */
  record Result(int code, String info, String requestId, int attempts, boolean exhausted) {}

  private record Answer(String requestId, int[] codes, String[] infos, boolean[] retryable) {}

  private final Settings settings;
  private final TokenBucket budget;
  private final Semaphore inFlight;
  private final HttpClient http = HttpClient.newBuilder()
      .version(HttpClient.Version.HTTP_1_1)
      .followRedirects(HttpClient.Redirect.NEVER)
      .connectTimeout(TIMEOUT)
      .build();
  private final JsonFactory jsonFactory = new JsonFactory();
  private final ObjectMapper json = new ObjectMapper();
  private String userSig;
  private long userSigRenewAt;

  ImClient(Settings settings) {
    this.settings = settings;
    this.budget = new TokenBucket(settings.rateLimit());
    this.inFlight = new Semaphore(settings.sdkConcurrency());
  }

  /** Applies every request; returns each change's final result (blocks until all are final). */
  Map<Decoder.Change, Result> apply(List<Request> requests) throws InterruptedException {
    Map<Decoder.Change, Result> done = new IdentityHashMap<>();
    Map<Decoder.Change, Integer> attempts = new IdentityHashMap<>();
    long deadline = System.nanoTime() + (long) (settings.retryDeadlineS() * 1e9);
    List<Request> round = requests;
    for (int retry = 0; !round.isEmpty(); retry++) {
      if (retry > 0) {
        double ceiling = Math.min(BACKOFF_CAP_S, BACKOFF_BASE_S * Math.pow(2, retry - 1));
        Thread.sleep((long) (ThreadLocalRandom.current().nextDouble() * ceiling * 1000));
      }
      List<CompletableFuture<Answer>> answers = new ArrayList<>(round.size());
      for (Request request : round) {
        inFlight.acquire();
        budget.acquire();
        request.changes().forEach(c -> attempts.merge(c, 1, Integer::sum));
        answers.add(send(request).whenComplete((answer, error) -> inFlight.release()));
      }
      boolean late = System.nanoTime() >= deadline;
      Map<String, List<Decoder.Change>> again = new LinkedHashMap<>();
      for (int r = 0; r < round.size(); r++) {
        Answer answer = answers.get(r).join();
        List<Decoder.Change> changes = round.get(r).changes();
        for (int i = 0; i < changes.size(); i++) {
          Decoder.Change change = changes.get(i);
          if (answer.retryable()[i] && !late) {
            again.computeIfAbsent(change.userId(), u -> new ArrayList<>()).add(change);
          } else {
            done.put(change, new Result(answer.codes()[i], answer.infos()[i], answer.requestId(),
                attempts.get(change), answer.retryable()[i]));
          }
        }
      }
      round = plan(again);
    }
    return done;
  }

  /** Requests of at most 100 changes per user, users in the order given. */
  static List<Request> plan(Map<String, List<Decoder.Change>> perUser) {
    List<Request> requests = new ArrayList<>();
    perUser.forEach((user, changes) -> {
      for (int i = 0; i < changes.size(); i += MAX_ITEMS) {
        requests.add(new Request(user, changes.subList(i, Math.min(changes.size(), i + MAX_ITEMS))));
      }
    });
    return requests;
  }

  private CompletableFuture<Answer> send(Request request) {
    String requestId = Long.toString(ThreadLocalRandom.current().nextLong(1L << 32));
    URI uri = URI.create(settings.imEndpoint() + MARK_CONTACT
        + "?sdkappid=" + settings.sdkAppId()
        + "&identifier=" + URLEncoder.encode(settings.admin(), StandardCharsets.UTF_8)
        + "&usersig=" + URLEncoder.encode(userSig(), StandardCharsets.UTF_8)
        + "&random=" + requestId
        + "&contenttype=json");
    HttpRequest http = HttpRequest.newBuilder(uri)
        .timeout(TIMEOUT)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofByteArray(body(request)))
        .build();
    int n = request.changes().size();
    return this.http.sendAsync(http, HttpResponse.BodyHandlers.ofByteArray())
        .handle((response, error) -> {
          if (error != null) {
            // Never the exception's text: it may quote the URL, and so the UserSig.
            return whole(requestId, n, TRANSPORT_ERROR, "transport error: "
                + error.getClass().getSimpleName());
          }
          return answer(requestId, request, response);
        });
  }

  private synchronized String userSig() {
    long now = System.currentTimeMillis() / 1000;
    if (userSig == null || now >= userSigRenewAt) {
      userSig = UserSig.generate(settings.sdkAppId(), settings.admin(), settings.secretKey(),
          now, USERSIG_TTL_S);
      userSigRenewAt = now + USERSIG_TTL_S - 300;
    }
    return userSig;
  }

  private byte[] body(Request request) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(64 + 96 * request.changes().size());
    try (JsonGenerator g = jsonFactory.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("From_Account", request.userId());
      g.writeArrayFieldStart("MarkItem");
      for (Decoder.Change change : request.changes()) {
        g.writeStartObject();
        g.writeNumberField("OptType", 2);
        g.writeObjectFieldStart("ContactItem");
        String id = change.conversationId();
        if (id.startsWith("c2c_")) {
          g.writeNumberField("Type", 1);
          g.writeStringField("To_Account", id.substring(4));
        } else {
          g.writeNumberField("Type", 2);
          g.writeStringField("ToGroupId", id.substring(6));
        }
        g.writeEndObject();
        g.writeStringField("CustomMark", change.customData());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private Answer answer(String requestId, Request request, HttpResponse<byte[]> response) {
    int n = request.changes().size();
    int status = response.statusCode();
    if (status != 200) {
      Answer failed = whole(requestId, n, HTTP_ERROR, "HTTP " + status);
      java.util.Arrays.fill(failed.retryable(), status >= 500);
      return failed;
    }
    JsonNode doc;
    try {
      doc = json.readTree(response.body());
    } catch (IOException e) {
      return whole(requestId, n, MALFORMED_RESPONSE, "response is not JSON");
    }
    if (doc == null || !doc.isObject()) {
      return whole(requestId, n, MALFORMED_RESPONSE, "response is not an object");
    }
    int code = doc.path("ErrorCode").asInt(0);
    if (code != 0) {
      return whole(requestId, n, code, doc.path("ErrorInfo").asText(""));
    }
    JsonNode items = doc.path("ResultItem");
    if (!"OK".equals(doc.path("ActionStatus").asText()) || !items.isArray() || items.size() != n) {
      return whole(requestId, n, MALFORMED_RESPONSE, "ResultItem missing or does not match request");
    }
    Answer answer = new Answer(requestId, new int[n], new String[n], new boolean[n]);
    for (int i = 0; i < n; i++) {
      JsonNode item = items.get(i);
      if (!request.changes().get(i).conversationId().equals(conversationId(item.path("ContactItem")))) {
        return whole(requestId, n, MALFORMED_RESPONSE, "ResultItem missing or does not match request");
      }
      answer.codes()[i] = item.path("ResultCode").asInt(MALFORMED_RESPONSE);
      answer.infos()[i] = item.path("ResultInfo").asText("");
      answer.retryable()[i] = RETRYABLE.contains(answer.codes()[i]);
    }
    return answer;
  }

  private static String conversationId(JsonNode contact) {
    int type = contact.path("Type").asInt(0);
    if (type == 1 && contact.path("To_Account").isTextual()) {
      return "c2c_" + contact.path("To_Account").textValue();
    }
    if (type == 2 && contact.path("ToGroupId").isTextual()) {
      return "group_" + contact.path("ToGroupId").textValue();
    }
    return null;
  }

  /** Every item of a request with the request's code. */
  private static Answer whole(String requestId, int n, int code, String info) {
    Answer answer = new Answer(requestId, new int[n], new String[n], new boolean[n]);
    java.util.Arrays.fill(answer.codes(), code);
    java.util.Arrays.fill(answer.infos(), info);
    java.util.Arrays.fill(answer.retryable(), RETRYABLE.contains(code));
    return answer;
  }
}
