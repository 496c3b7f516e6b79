package streams.peer;

import java.util.Map;

/** The worker's STREAMS_* variables the peer reads (the same names and defaults). */
record Settings(
    String bootstrap,
    String appId,
    String changesTopic,
    String outcomesTopic,
    String dataDir,
    long windowMs,
    int maxBatch,
    double rateLimit,
    int sdkConcurrency,
    double retryDeadlineS,
    long maxClockSkewS,
    String imEndpoint,
    long sdkAppId,
    String admin,
    String secretKey) {

  static Settings fromEnv(Map<String, String> env) {
    return new Settings(
        // kafka://host:port;host:port, as Faust takes it, or a plain bootstrap list.
        env.getOrDefault("STREAMS_BROKER", "kafka://127.0.0.1:9092")
            .replaceFirst("^kafka://", "")
            .replace(';', ','),
        env.getOrDefault("STREAMS_APP_ID", "conversation-custom-data-streams"),
        env.getOrDefault("STREAMS_CHANGES_TOPIC", "conversation-custom-data-changes"),
        env.getOrDefault("STREAMS_OUTCOMES_TOPIC", "conversation-custom-data-outcomes"),
        env.getOrDefault("STREAMS_DATA_DIR", "data"),
        Long.parseLong(env.getOrDefault("STREAMS_WINDOW_MS", "250")),
        Integer.parseInt(env.getOrDefault("STREAMS_MAX_BATCH", "10000")),
        Double.parseDouble(env.getOrDefault("STREAMS_RATE_LIMIT", "200")),
        Integer.parseInt(env.getOrDefault("STREAMS_SDK_CONCURRENCY", "32")),
        Double.parseDouble(env.getOrDefault("STREAMS_SDK_RETRY_DEADLINE_S", "20")),
        Long.parseLong(env.getOrDefault("STREAMS_MAX_CLOCK_SKEW_S", "300")),
        required(env, "STREAMS_IM_ENDPOINT").replaceAll("/+$", ""),
        Long.parseLong(required(env, "STREAMS_IM_SDKAPPID")),
        required(env, "STREAMS_IM_ADMIN"),
        required(env, "STREAMS_IM_SECRET_KEY"));
  }

  private static String required(Map<String, String> env, String name) {
    String value = env.get(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException(name + " is required");
    }
    return value;
  }

  /** Never prints the secret key. */
  @Override
  public String toString() {
    return "Settings[bootstrap=" + bootstrap + ", appId=" + appId + ", windowMs=" + windowMs
        + ", maxBatch=" + maxBatch + ", rateLimit=" + rateLimit + ", sdkConcurrency="
        + sdkConcurrency + "]";
  }
}
