package com.shufflenetmobile.demo.core;

/**
 * What a backend really did to the graph, from the interpreter's execution plan: the number of nodes
 * without any delegate (the model's ops) and with the chosen backend. A delegate replaces the ops it
 * takes by one node per partition, so fewer nodes means it was applied.
 */
public final class Delegation {
    /** A count the runtime did not expose. */
    public static final int UNKNOWN = -1;

    public final Backend backend;
    public final int modelOps;
    public final int planNodes;

    public Delegation(Backend backend, int modelOps, int planNodes) {
        this.backend = backend;
        this.modelOps = modelOps;
        this.planNodes = planNodes;
    }

    /** True or false when the counts tell; null when they are unknown or no delegate was asked for. */
    public Boolean applied() {
        if (backend == Backend.CPU || modelOps == UNKNOWN || planNodes == UNKNOWN) {
            return null;
        }
        return planNodes < modelOps;
    }

    /** One line for the report. */
    public String describe() {
        if (backend == Backend.CPU) {
            return "Delegate: none (LiteRT's built-in CPU kernels, XNNPACK off)"
                    + (planNodes == UNKNOWN ? "" : "; " + plural(planNodes, "node") + " in the plan");
        }
        Boolean applied = applied();
        if (applied == null) {
            return "Delegate: " + backend.title + " accepted by the interpreter; node counts not exposed by this"
                    + " LiteRT version, so how much of the graph it took is unknown";
        }
        if (!applied) {
            return "Delegate: " + backend.title + " NOT applied: the plan still has " + plural(planNodes, "node")
                    + " for " + plural(modelOps, "op") + "; everything runs on LiteRT's CPU kernels";
        }
        String how = planNodes == 1 ? "the whole graph runs in the delegate"
                : "partly delegated; the other nodes run on LiteRT's CPU kernels";
        return "Delegate: " + backend.title + " applied: " + plural(modelOps, "op") + " -> "
                + plural(planNodes, "node") + " (" + how + ")";
    }

    private static String plural(int n, String word) {
        return n + " " + word + (n == 1 ? "" : "s");
    }
}
