// cloakroom client script: placeholder, the lead replaces this file.
