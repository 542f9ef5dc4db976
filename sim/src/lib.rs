//! graph-sim: a loopback Microsoft Graph simulator that serves tenant snapshots.
