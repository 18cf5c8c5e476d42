package org.tensorflow.lite.nnapi;

import org.tensorflow.lite.Delegate;

/** COMPILE-ONLY STUB of LiteRT's NNAPI delegate (part of com.google.ai.edge.litert:litert). */
public class NnApiDelegate implements Delegate {
    public NnApiDelegate() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

    @Override
    public long getNativeHandle() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }
}
