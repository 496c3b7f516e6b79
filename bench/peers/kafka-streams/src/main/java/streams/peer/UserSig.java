package streams.peer;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.Deflater;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * UserSig v2 (Tencent's tls-sig-api-v2), made as streams/sdk/usersig.py makes it: the HMAC-SHA256
 * of identifier, app id, issue time and lifetime in a JSON document, zlib-compressed, base64 with
 * '+' to '*', '/' to '-' and '=' to '_'.
 */
final class UserSig {
  private UserSig() {}

  static String generate(long sdkAppId, String identifier, String key, long issuedAt, long expireS) {
    String content = "TLS.identifier:" + identifier + "\n"
        + "TLS.sdkappid:" + sdkAppId + "\n"
        + "TLS.time:" + issuedAt + "\n"
        + "TLS.expire:" + expireS + "\n";
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("TLS.ver", "2.0");
    doc.put("TLS.identifier", identifier);
    doc.put("TLS.sdkappid", sdkAppId);
    doc.put("TLS.expire", expireS);
    doc.put("TLS.time", issuedAt);
    doc.put("TLS.sig", Base64.getEncoder().encodeToString(hmac(key, content)));
    try {
      byte[] json = new ObjectMapper().writeValueAsBytes(doc);
      return Base64.getEncoder().encodeToString(deflate(json))
          .replace('+', '*').replace('/', '-').replace('=', '_');
    } catch (java.io.IOException e) {
      throw new IllegalStateException("UserSig document", e);
    }
  }

  private static byte[] hmac(String key, String content) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      return mac.doFinal(content.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256", e);
    }
  }

  private static byte[] deflate(byte[] input) {
    Deflater deflater = new Deflater();
    deflater.setInput(input);
    deflater.finish();
    byte[] buffer = new byte[input.length + 64];
    int size = deflater.deflate(buffer);
    deflater.end();
    return java.util.Arrays.copyOf(buffer, size);
  }
}
