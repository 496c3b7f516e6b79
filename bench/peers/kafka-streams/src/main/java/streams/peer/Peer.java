package streams.peer;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer: changes in, one outcome per change out, marks applied through the IM
 * REST API (bench/peers/README.md). Reads the worker's STREAMS_* variables; prints {@code ready}
 * once its tasks run. Stops on SIGTERM (closing Kafka Streams, which commits what it flushed).
 */
public final class Peer {
  private Peer() {}

  static Topology topology(Settings settings, ImClient client) {
    Topology topology = new Topology();
    topology.addSource("changes", new ByteArrayDeserializer(), new ByteArrayDeserializer(),
        settings.changesTopic());
    topology.addProcessor("window", () -> new WindowProcessor(settings, client), "changes");
    topology.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(WindowProcessor.PENDING), Serdes.Long(),
        Serdes.ByteArray()).withCachingEnabled(), "window");
    topology.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(WindowProcessor.LAST_APPLIED), Serdes.String(),
        Serdes.ByteArray()).withCachingEnabled(), "window");
    topology.addSink("outcomes", settings.outcomesTopic(), new ByteArraySerializer(),
        new ByteArraySerializer(), "window");
    return topology;
  }

  public static void main(String[] args) throws InterruptedException {
    Settings settings = Settings.fromEnv(System.getenv());
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, settings.appId());
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrap());
    props.put(StreamsConfig.STATE_DIR_CONFIG, settings.dataDir());
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    // The outcome producer waits for every in-sync replica, as the worker's does.
    props.put(StreamsConfig.producerPrefix("acks"), "all");
    KafkaStreams streams = new KafkaStreams(topology(settings, new ImClient(settings)), props);
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) {
        System.out.println("ready");
        System.out.flush();
      } else if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) {
        stopped.countDown();
      }
    });
    // A window that cannot be processed stops the peer: nothing past it is committed.
    streams.setUncaughtExceptionHandler(
        e -> StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(10))));
    System.err.println("peer starting: " + settings);
    streams.start();
    stopped.await();
    if (streams.state() == KafkaStreams.State.ERROR) {
      System.exit(1);
    }
  }
}
