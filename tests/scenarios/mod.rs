mod closure;
mod own_effects;
mod protocol;
mod review;
mod signals_and_lock;
mod stale_and_resume;
mod status_validate;
mod walking_skeleton;
