"""Real photos with pinned poses: pixel-aligned render/photo pairs (`views`) and the labels of
real photos (`ground_truth`)."""
