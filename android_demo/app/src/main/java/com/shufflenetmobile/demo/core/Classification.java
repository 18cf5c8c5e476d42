package com.shufflenetmobile.demo.core;

import java.util.ArrayList;
import java.util.List;

/** Logits to probabilities to the top-k classes. */
public final class Classification {
    private Classification() {}

    /** Numerically stable softmax in double (the max logit is subtracted first). */
    public static double[] softmax(double[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : logits) {
            max = Math.max(max, v);
        }
        double[] p = new double[logits.length];
        double total = 0.0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            total += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= total;
        }
        return p;
    }

    /**
     * The {@code k} largest probabilities, highest first; equal values keep the lower index first
     * (the order of a stable sort, e.g. {@code np.argsort(-p, kind="stable")}). Quantized outputs
     * produce ties often, so the rule matters.
     */
    public static List<Prediction> topK(double[] probabilities, List<String> labels, int k) {
        int n = Math.min(k, probabilities.length);
        boolean[] taken = new boolean[probabilities.length];
        List<Prediction> out = new ArrayList<Prediction>(n);
        for (int r = 0; r < n; r++) {
            int best = -1;
            for (int i = 0; i < probabilities.length; i++) {
                if (!taken[i] && (best < 0 || probabilities[i] > probabilities[best])) {
                    best = i;
                }
            }
            taken[best] = true;
            String label = labels != null && best < labels.size() ? labels.get(best) : "class " + best;
            out.add(new Prediction(best, label, probabilities[best]));
        }
        return out;
    }
}
