package org.tensorflow.lite;

/** COMPILE-ONLY STUB (see {@link Interpreter}); the app only calls name() on it. */
public enum DataType {
    FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8
}
