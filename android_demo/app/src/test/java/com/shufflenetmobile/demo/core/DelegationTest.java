package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class DelegationTest {
    @Test
    public void fewerNodesThanOpsMeansApplied() {
        Delegation whole = new Delegation(Backend.GPU, 160, 1);
        assertTrue(whole.applied());
        assertTrue(whole.describe(), whole.describe().contains("whole graph"));
        Delegation part = new Delegation(Backend.NNAPI, 160, 7);
        assertTrue(part.applied());
        assertTrue(part.describe(), part.describe().contains("160 ops -> 7 nodes (partly delegated"));
    }

    @Test
    public void anUnchangedPlanMeansNotApplied() {
        Delegation d = new Delegation(Backend.NNAPI, 160, 160);
        assertFalse(d.applied());
        assertTrue(d.describe(), d.describe().startsWith("Delegate: NNAPI delegate NOT applied"));
    }

    @Test
    public void unknownCountsAreSaidToBeUnknown() {
        Delegation d = new Delegation(Backend.GPU, Delegation.UNKNOWN, 1);
        assertNull(d.applied());
        assertTrue(d.describe(), d.describe().contains("unknown"));
    }

    @Test
    public void cpuHasNoDelegate() {
        Delegation d = new Delegation(Backend.CPU, 160, 160);
        assertNull(d.applied());
        assertEquals("Delegate: none (LiteRT's built-in CPU kernels, XNNPACK off); 160 nodes in the plan",
                d.describe());
    }

    @Test
    public void threadCountChangesRebuildOnlyCpuSessions() {
        assertTrue(Backend.GPU.canReuse(Backend.GPU, 2, 4));
        assertTrue(Backend.NNAPI.canReuse(Backend.NNAPI, 1, 4));
        assertFalse(Backend.XNNPACK.canReuse(Backend.XNNPACK, 2, 4));
        assertFalse(Backend.CPU.canReuse(Backend.CPU, 2, 1));
        assertTrue(Backend.CPU.canReuse(Backend.CPU, 2, 2));
        assertFalse(Backend.GPU.canReuse(Backend.NNAPI, 2, 2));
    }
}
