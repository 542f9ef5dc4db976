mod walking_skeleton;
mod stale_and_resume;
