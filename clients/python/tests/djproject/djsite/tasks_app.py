from taskwire.contrib.django import project_app

app = project_app("djsite", "djsite.settings")
