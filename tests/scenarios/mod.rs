mod closure;
mod permissions;
mod protocol;
mod review;
mod stale_and_resume;
mod walking_skeleton;
