package org.tensorflow.lite;

/** Shared failure of the compile-only stubs: reaching it means the stub was packaged by mistake. */
final class Stub {
    private Stub() {}

    static UnsupportedOperationException fail() {
        return new UnsupportedOperationException(
                "compile-only LiteRT stub: build the app with Gradle to get the real runtime");
    }
}
