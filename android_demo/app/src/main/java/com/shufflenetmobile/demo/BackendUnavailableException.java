package com.shufflenetmobile.demo;

/** The chosen backend cannot run here (missing delegate library, unsupported device or model). */
final class BackendUnavailableException extends Exception {
    private static final long serialVersionUID = 1L;

    BackendUnavailableException(String message) {
        super(message);
    }

    BackendUnavailableException(String message, Throwable cause) {
        super(message + (cause.getMessage() != null ? ": " + cause.getMessage() : ""), cause);
    }
}
