mod closure;
mod hostile;
mod protocol;
mod review;
mod stale_and_resume;
mod walking_skeleton;
