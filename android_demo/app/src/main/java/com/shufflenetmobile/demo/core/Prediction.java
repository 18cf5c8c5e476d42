package com.shufflenetmobile.demo.core;

/** One class of the top-k: its output index, label and softmax probability. */
public final class Prediction {
    public final int index;
    public final String label;
    public final double probability;

    public Prediction(int index, String label, double probability) {
        this.index = index;
        this.label = label;
        this.probability = probability;
    }
}
