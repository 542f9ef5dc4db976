mod closure;
mod guidance;
mod hostile_text;
mod protocol;
mod review;
mod small_things;
mod stale_and_resume;
mod walking_skeleton;
