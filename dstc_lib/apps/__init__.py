"""The three applications of the clusterings: functional zones, transfer, anomaly days."""
