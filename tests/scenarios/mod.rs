mod closure;
mod own_effects;
mod protocol;
mod review;
mod stale_and_resume;
mod walking_skeleton;
