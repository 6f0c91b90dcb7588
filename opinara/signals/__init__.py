"""Series in and out: metric points, Opinara's own signals as series, and the detectors over them."""
