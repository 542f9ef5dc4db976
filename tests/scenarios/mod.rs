mod closure;
mod input_files;
mod protocol;
mod review;
mod stale_and_resume;
mod tamper;
mod walking_skeleton;
