package streams.peer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * One task's (one partition's) windows. Each change is buffered in the {@code pending} store
 * (RocksDB, changelogged, cached: an entry written and deleted between two commits never
 * reaches RocksDB or its changelog), so an offset Kafka Streams commits is always either
 * answered or still buffered. A wall-clock punctuation every {@code STREAMS_WINDOW_MS} (or
 * {@code STREAMS_MAX_BATCH} buffered events) flushes the window: decode, duplicates and stale
 * events against the {@code last-applied} store, last write wins per conversation, requests of at
 * most 100 conversations per user, one outcome per event, the store updated, the buffer cleared.
 * The flush blocks the stream thread until every request is final: backpressure, not drops.
 */
final class WindowProcessor implements Processor<byte[], byte[], byte[], byte[]> {
  static final String PENDING = "pending";
  static final String LAST_APPLIED = "last-applied";

  private final Settings settings;
  private final ImClient client;
  private final Decoder decoder;
  private ProcessorContext<byte[], byte[]> context;
  private KeyValueStore<Long, byte[]> pending;
  private KeyValueStore<String, byte[]> lastApplied;
  private Outcomes outcomes;
  private int buffered;

  WindowProcessor(Settings settings, ImClient client) {
    this.settings = settings;
    this.client = client;
    this.decoder = new Decoder(settings.maxClockSkewS());
  }

  @Override
  public void init(ProcessorContext<byte[], byte[]> context) {
    this.context = context;
    this.pending = context.getStateStore(PENDING);
    this.lastApplied = context.getStateStore(LAST_APPLIED);
    this.outcomes = new Outcomes(settings.changesTopic(), context.taskId().partition());
    // What a previous owner buffered and committed is flushed with the first window.
    try (KeyValueIterator<Long, byte[]> it = pending.all()) {
      while (it.hasNext()) {
        it.next();
        buffered++;
      }
    }
    context.schedule(Duration.ofMillis(settings.windowMs()), PunctuationType.WALL_CLOCK_TIME,
        now -> flush());
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    long offset = context.recordMetadata().orElseThrow().offset();
    pending.put(offset, pack(record.key(), record.value()));
    if (++buffered >= settings.maxBatch()) {
      flush();
    }
  }

  private record Entry(long offset, byte[] key, Object decoded) {}

  private void flush() {
    if (buffered == 0) {
      return;
    }
    Instant now = Instant.now();
    String processedAt = Decoder.isoformat(now.atOffset(ZoneOffset.UTC));
    List<Entry> entries = new ArrayList<>(buffered);
    try (KeyValueIterator<Long, byte[]> it = pending.all()) {
      while (it.hasNext()) {
        KeyValue<Long, byte[]> kv = it.next();
        byte[][] record = unpack(kv.value);
        entries.add(new Entry(kv.key, record[0], decoder.decode(record[0], record[1], kv.key, now)));
      }
    }
    Map<Decoder.Change, Outcomes.Verdict> verdicts = new IdentityHashMap<>();
    Map<String, List<Decoder.Change>> winnersPerUser = new LinkedHashMap<>();
    Map<String, List<Decoder.Change>> groups = new LinkedHashMap<>();
    for (Entry entry : entries) {
      if (entry.decoded() instanceof Decoder.Change change) {
        groups.computeIfAbsent(change.conversationKey(), k -> new ArrayList<>()).add(change);
      }
    }
    groups.forEach((key, group) -> {
      Decoder.Change winner = resolve(group, lastApplied.get(key), verdicts);
      if (winner != null) {
        winnersPerUser.computeIfAbsent(winner.userId(), u -> new ArrayList<>()).add(winner);
      }
    });
    Map<Decoder.Change, ImClient.Result> results;
    try {
      results = client.apply(ImClient.plan(winnersPerUser));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while applying a window", e);
    }
    results.forEach((change, result) -> {
      boolean applied = result.code() == 0;
      verdicts.put(change, new Outcomes.Verdict(applied ? "applied" : "failed",
          applied ? null : result.exhausted() ? "retries_exhausted" : "permanent", result.code(),
          applied ? null : result.info(), null, result.requestId(), result.attempts()));
      if (applied) {
        lastApplied.put(change.conversationKey(), encodeLast(change));
      }
    });
    long timestamp = System.currentTimeMillis();
    for (Entry entry : entries) {
      byte[] value = entry.decoded() instanceof Decoder.Change change
          ? outcomes.forChange(change, verdicts.get(change), processedAt, entry.offset())
          : outcomes.forRejection((Decoder.Rejection) entry.decoded(), processedAt, entry.offset());
      context.forward(new Record<>(entry.key(), value, timestamp));
      pending.delete(entry.offset());
    }
    buffered = 0;
  }

  /**
   * One conversation's changes in arrival order: a repeated event_id is a duplicate of its first
   * copy (or of the change last applied); a change not newer than the last applied one is
   * stale; of the rest the greatest order wins and supersedes the others. Returns the winner.
   */
  private static Decoder.Change resolve(List<Decoder.Change> group, byte[] last,
      Map<Decoder.Change, Outcomes.Verdict> verdicts) {
    String lastEventId = last == null ? null : lastEventId(last);
    long[] lastOrder = last == null ? null : lastOrder(last);
    Set<String> seen = new HashSet<>();
    List<Decoder.Change> live = new ArrayList<>();
    for (Decoder.Change change : group) {
      if (seen.contains(change.eventId()) || change.eventId().equals(lastEventId)) {
        verdicts.put(change, decided("duplicate", null));
      } else {
        seen.add(change.eventId());
        if (lastOrder != null && Arrays.compare(change.order(), lastOrder) <= 0) {
          verdicts.put(change, decided("stale", null));
        } else {
          live.add(change);
        }
      }
    }
    Decoder.Change winner = null;
    for (Decoder.Change change : live) {
      if (winner == null || Arrays.compare(change.order(), winner.order()) > 0) {
        winner = change;
      }
    }
    for (Decoder.Change change : live) {
      if (change != winner) {
        verdicts.put(change, decided("superseded", winner.eventId()));
      }
    }
    return winner;
  }

  private static Outcomes.Verdict decided(String status, String supersededBy) {
    return new Outcomes.Verdict(status, status, null, null, supersededBy, null, 0);
  }

  /** last-applied value: version, occurred_at us, offset, then the event_id in UTF-8. */
  private static byte[] encodeLast(Decoder.Change change) {
    byte[] id = change.eventId().getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(24 + id.length)
        .putLong(change.order()[0]).putLong(change.order()[1]).putLong(change.order()[2])
        .put(id).array();
  }

  private static long[] lastOrder(byte[] value) {
    ByteBuffer b = ByteBuffer.wrap(value);
    return new long[] {b.getLong(), b.getLong(), b.getLong()};
  }

  private static String lastEventId(byte[] value) {
    return new String(value, 24, value.length - 24, StandardCharsets.UTF_8);
  }

  /** pending value: the input key and value as received (either may be null). */
  private static byte[] pack(byte[] key, byte[] value) {
    int k = key == null ? 0 : key.length;
    int v = value == null ? 0 : value.length;
    ByteBuffer b = ByteBuffer.allocate(8 + k + v);
    b.putInt(key == null ? -1 : k);
    if (key != null) {
      b.put(key);
    }
    b.putInt(value == null ? -1 : v);
    if (value != null) {
      b.put(value);
    }
    return b.array();
  }

  private static byte[][] unpack(byte[] packed) {
    ByteBuffer b = ByteBuffer.wrap(packed);
    byte[][] out = new byte[2][];
    for (int i = 0; i < 2; i++) {
      int size = b.getInt();
      if (size >= 0) {
        out[i] = new byte[size];
        b.get(out[i]);
      }
    }
    return out;
  }
}
