mod walking_skeleton;
