package org.tensorflow.lite;

/** COMPILE-ONLY STUB (see {@link Interpreter}). */
public interface Delegate extends AutoCloseable {
    long getNativeHandle();

    @Override
    void close();
}
