import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from annotation.models import Membership, Project, Prompt, Response, Role
from annotation.services import project_create

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class LeadFactory(UserFactory):
    username = factory.Sequence(lambda n: f"lead{n}")

    @factory.post_generation
    def may_create_projects(self, create, extracted, **kwargs):
        if create:
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label="annotation", codename="add_project")
            )


class AnnotatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"annotator{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    """Made through ``project_create`` so the creator is a lead and guidelines v1 exists."""

    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    kind = "rating"
    created_by = factory.SubFactory(LeadFactory)

    @classmethod
    def _create(cls, model_class, *args, created_by, **kwargs):
        kwargs.setdefault("guidelines", "# Guidelines\n\nRate **carefully**.")
        return project_create(by=created_by, **kwargs)


def add_member(project: Project, user, role: str = Role.ANNOTATOR) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"p-{n}")
    text = factory.Sequence(lambda n: f"Question number {n}?")


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    prompt = factory.SubFactory(PromptFactory)
    model_name = factory.Iterator(["base-v1", "ft-r1", "ft-r2"])
    text = factory.Sequence(lambda n: f"Answer number {n}.")
