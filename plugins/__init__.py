"""specinterp's built-in plugins, loaded through the ``specinterp`` entry-point group like any other."""
