package org.tensorflow.lite;

import java.io.Closeable;

/** COMPILE-ONLY STUB (see {@link Interpreter}); LiteRT declares close() as a default no-op. */
public interface Delegate extends Closeable {
    long getNativeHandle();

    @Override
    default void close() {}
}
