//! closeout: plan, review and apply the closure of a Microsoft 365 tenant.
