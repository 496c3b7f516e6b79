package streams.examples;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/** {@code --name value} command-line options, with defaults; an unknown name is an error. */
final class Args {
    private final Map<String, String> values = new HashMap<>();

    Args(String[] args, Map<String, String> defaults) {
        values.putAll(defaults);
        Set<String> known = defaults.keySet();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--") || i + 1 >= args.length) {
                throw usage("expected --name value, got " + arg, known);
            }
            String name = arg.substring(2);
            if (!known.contains(name)) {
                throw usage("unknown option " + arg, known);
            }
            values.put(name, args[++i]);
        }
    }

    private static IllegalArgumentException usage(String problem, Set<String> known) {
        return new IllegalArgumentException(problem + "; options: --" + String.join(" --", known));
    }

    String string(String name) {
        return values.get(name);
    }

    int integer(String name) {
        return Integer.parseInt(values.get(name));
    }

    double number(String name) {
        return Double.parseDouble(values.get(name));
    }
}
